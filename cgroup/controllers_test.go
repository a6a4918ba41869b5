package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Bad names and controllers this hybrid host binds to cgroup v1 are
// refused with typed errors, and nothing is written.
func TestHostEnableControllersRefuses(t *testing.T) {
	parent := hostParent(t)
	cg, err := New(filepath.Join(parent, "c"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Delete()
	var ie *InvalidError
	if err := cg.EnableControllers("pids", "bogus"); !errors.As(err, &ie) || ie.Value != "bogus" {
		t.Errorf("EnableControllers(bogus) = %v, want an *InvalidError naming it", err)
	}
	h, _ := Detect()
	if _, bound := h.V1["memory"]; bound {
		var v1 *V1BoundError
		if err := cg.EnableControllers("memory"); !errors.As(err, &v1) {
			t.Errorf("EnableControllers(memory) on this hybrid host = %v, want *V1BoundError", err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control")); len(b) > 1 {
		t.Errorf("refused calls changed %s: %q", parent, b)
	}
}

// On a pure v2 host the controllers are switched on without limits: the
// cgroup gets their files, at the kernel's defaults, and Stats reads them.
func TestVMEnableControllers(t *testing.T) {
	cg := vmCgroup(t, "enable", Resources{})
	for _, f := range []string{"memory.max", "pids.max", "io.max"} {
		if _, err := os.Stat(filepath.Join(cg.Path(), f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists before EnableControllers: %v", f, err)
		}
	}
	if err := cg.EnableControllers("memory", "pids", "io"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"memory.max", "pids.max"} {
		if got := readTrim(t, filepath.Join(cg.Path(), f)); got != "max" {
			t.Errorf("%s = %q, want max (no limit set)", f, got)
		}
	}
	var s Stats
	if err := cg.Stats(&s, StatMemory|StatPids); err != nil {
		t.Fatalf("Stats after EnableControllers: %v", err)
	}
}
