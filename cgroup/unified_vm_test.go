package cgroup

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// With every controller on cgroup v2: Unified keys of three controllers
// are enabled and written, a typed field Unified also sets ends with
// Unified's value, and a kernel refusal of the last key rolls back the
// keys and typed fields written before it.
func TestVMUnifiedControllersAndRollback(t *testing.T) {
	cg := vmCgroup(t, "unified", Resources{Memory: &Memory{Max: 256 << 20},
		Unified: map[string]string{"memory.max": "128M", "memory.high": "96M", "cpu.weight": "300", "pids.max": "50"}})
	files := []string{"memory.max", "memory.high", "cpu.weight", "pids.max"}
	read := func() []string {
		var vs []string
		for _, f := range files {
			vs = append(vs, readTrim(t, filepath.Join(cg.Path(), f)))
		}
		return vs
	}
	before := read()
	if want := []string{"134217728", "100663296", "300", "50"}; !slices.Equal(before, want) {
		t.Fatalf("%v = %q, want %q", files, before, want)
	}
	err := cg.Apply(Resources{CPU: &CPU{Weight: 20},
		Unified: map[string]string{"memory.high": "max", "memory.max": "1G", "pids.max": "-3"}})
	var se *StepError
	if !errors.Is(err, unix.EINVAL) || !errors.As(err, &se) || filepath.Base(se.Path) != "pids.max" {
		t.Fatalf("Apply with pids.max -3: %v, want the kernel's refusal of it", err)
	}
	if after := read(); !slices.Equal(after, before) {
		t.Errorf("%v = %q after rollback, was %q", files, after, before)
	}
}
