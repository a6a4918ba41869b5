package cgroup

import (
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// Unified keys on the host's unified hierarchy, with the cgroup core
// limits every cgroup has: written and read back, an invalid key changes
// nothing, and a kernel refusal rolls back the key written before it.
func TestHostUnifiedCgroupLimits(t *testing.T) {
	parent := hostParent(t)
	cg, err := New(filepath.Join(parent, "u"), Resources{Unified: map[string]string{"cgroup.max.descendants": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Delete()
	read := func(file string) string { return readTrim(t, filepath.Join(cg.Path(), file)) }
	if got := read("cgroup.max.descendants"); got != "5" {
		t.Fatalf("cgroup.max.descendants = %q after New, want 5", got)
	}
	var ie *InvalidError
	err = cg.Apply(Resources{Unified: map[string]string{"cgroup.max.depth": "3", "cgroup.procs": "1"}})
	if !errors.As(err, &ie) || ie.Field != `Unified["cgroup.procs"]` {
		t.Errorf("Apply with cgroup.procs: %v, want an *InvalidError naming it", err)
	}
	if got := read("cgroup.max.depth"); got != "max" {
		t.Errorf("cgroup.max.depth = %q after a refused Apply, want max", got)
	}
	// Sorted: cgroup.max.depth is written, then the kernel refuses
	// cgroup.max.descendants, and depth gets its old value back.
	err = cg.Apply(Resources{Unified: map[string]string{"cgroup.max.depth": "3", "cgroup.max.descendants": "many"}})
	var se *StepError
	if !errors.Is(err, unix.EINVAL) || !errors.As(err, &se) || se.Value != "many" {
		t.Fatalf("Apply with descendants=many: %v, want the kernel's EINVAL for it", err)
	}
	if d, n := read("cgroup.max.depth"), read("cgroup.max.descendants"); d != "max" || n != "5" {
		t.Errorf("after rollback depth %q, descendants %q; want max, 5", d, n)
	}
	if err := cg.Apply(Resources{Unified: map[string]string{"cgroup.max.depth": "0"}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkdir(filepath.Join(cg.Path(), "sub"), 0o755); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("mkdir below cgroup.max.depth 0: %v, want EAGAIN", err)
		_ = unix.Rmdir(filepath.Join(cg.Path(), "sub"))
	}
}

func TestHostUnifiedPidsMax(t *testing.T) {
	testutil.RequireRoot(t)
	unifiedPidsMax(t)
}

// TestVMUnifiedPidsMax proves it where the pids controller is on cgroup
// v2: on hybrid hosts it is bound to v1.
func TestVMUnifiedPidsMax(t *testing.T) {
	testutil.RequireVM(t)
	unifiedPidsMax(t)
}

// unifiedPidsMax: Unified{"pids.max": "2"} enables pids for the cgroup
// and the kernel holds it to two tasks: a third fork fails with EAGAIN.
// The children are /bin/sleep, single-threaded (a Go helper's threads
// would count against the limit).
func unifiedPidsMax(t *testing.T) {
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(h.Controllers, "pids") {
		testutil.SkipHost(t, "TestVMUnifiedPidsMax", "the cgroup v2 root at %s does not offer pids (have: %s)",
			h.Root, strings.Join(h.Controllers, " "))
	}
	parent := testutil.TempCgroup(t)
	cg, err := New(filepath.Join(parent, "upids"), Resources{Unified: map[string]string{"pids.max": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killDelete(t, cg) })
	if got := readTrim(t, filepath.Join(cg.Path(), "pids.max")); got != "2" {
		t.Fatalf("pids.max = %q, want 2", got)
	}
	startIn(t, cg, exec.Command("/bin/sleep", "60"))
	startIn(t, cg, exec.Command("/bin/sleep", "60"))
	cmd := exec.Command("/bin/sleep", "60")
	cmd.SysProcAttr = sysProcIn(cg)
	if err := cmd.Start(); !errors.Is(err, unix.EAGAIN) {
		if err == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		t.Fatalf("third task under Unified pids.max 2: %v, want EAGAIN", err)
	}
	s := stats(t, cg, StatPids)
	if s.Pids.Current != 2 {
		t.Errorf("pids.current %d, want 2", s.Pids.Current)
	}
}
