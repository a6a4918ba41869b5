//go:build race

package namespace_test

// raceEnabled: a race-instrumented init takes ~100 ms to start, so loops
// that spawn hundreds of children run fewer cycles.
const raceEnabled = true
