package main

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRlimitsReachProcess: process.rlimits are the container process's
// limits, soft and hard, as a non-Go reader (cat of /proc/self/limits)
// sees them. The conformance suite's process_rlimits cannot show the soft
// RLIMIT_NOFILE: its runtimetest is a Go program, and the Go runtime
// (1.19 on) raises its own soft limit before main.
func TestRlimitsReachProcess(t *testing.T) {
	const gib = 1 << 30
	dir, _ := bundle(t, []string{"cat", "/proc/self/limits"}, func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{
			{Type: "RLIMIT_NOFILE", Soft: 3000, Hard: 4000},
			{Type: "RLIMIT_CORE", Soft: 3 * gib, Hard: 4 * gib},
			{Type: "RLIMIT_CPU", Soft: 60, Hard: 120},
		}
	})
	out := mustRT(t, stateRoot(t), "run", "--bundle", dir, "rl")
	want := map[string]string{
		"Max open files":     "3000 4000",
		"Max core file size": "3221225472 4294967296",
		"Max cpu time":       "60 120",
	}
	for _, line := range strings.Split(out, "\n") {
		for name, limits := range want {
			if strings.HasPrefix(line, name) {
				if f := strings.Fields(strings.TrimPrefix(line, name)); len(f) < 2 || f[0]+" "+f[1] != limits {
					t.Errorf("%s: %q, want %s", name, line, limits)
				}
				delete(want, name)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("not in /proc/self/limits: %v\n%s", want, out)
	}
}
