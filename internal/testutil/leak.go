package testutil

import (
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// CheckLeaks records the process's open file descriptors and goroutine count
// now and, when the test ends, fails it if either grew. Goroutines get a
// short grace period to exit. Do not use it in parallel tests.
func CheckLeaks(t testing.TB) {
	t.Helper()
	fds := OpenFDs(t)
	gs := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > gs && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > gs {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d before, %d after\n%s", gs, n, buf)
		}
		after := OpenFDs(t)
		var leaked []string
		for fd, target := range after {
			if _, ok := fds[fd]; !ok {
				leaked = append(leaked, fd+" -> "+target)
			}
		}
		if len(leaked) > 0 {
			sort.Strings(leaked)
			t.Errorf("fd leak: %s", strings.Join(leaked, ", "))
		}
	})
}

// OpenFDs maps each open fd of this process to what it points at.
func OpenFDs(t testing.TB) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the fd ReadDir itself used
		}
		m[e.Name()] = target
	}
	return m
}
