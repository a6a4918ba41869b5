//go:build race

package namespace

import "os"

// raceInitEnv is added to the init's environment in a race-instrumented
// build: the caller's GORACE options, and no sleep at exit. The race
// runtime otherwise sleeps 1 s (atexit_sleep_ms) when a process exits,
// and the init of a Cmd with a Sandbox exits once its command runs,
// which Start waits for.
func raceInitEnv() []string {
	return []string{"GORACE=" + os.Getenv("GORACE") + " atexit_sleep_ms=0"}
}
