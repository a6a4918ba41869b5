package main

// testPhase, when set, is called at each step of create and exec that
// leaves something behind on the host or hands something over. Only the
// tests' TestMain sets it (from an environment variable), so that the
// SIGKILL-mid-create and SIGKILL-mid-exec tests can stop the runtime at a
// chosen step; the confine-runtime binary never does.
var testPhase func(name string)

// phase marks a step of create or exec for testPhase.
func phase(name string) {
	if testPhase != nil {
		testPhase(name)
	}
}
