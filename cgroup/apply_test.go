package cgroup

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func fullResources() Resources {
	return Resources{
		CPU: &CPU{Max: &CPUMax{Quota: 50 * time.Millisecond, Period: 100 * time.Millisecond},
			Weight: 400, Idle: Off, Burst: 10 * time.Millisecond, Cpus: "0-1", Mems: "0"},
		Memory: &Memory{Max: 512 << 20, High: 400 << 20, Low: 64 << 20, Min: 32 << 20, Swap: Zero, OOMGroup: On},
		IO: &IO{Weight: 200, Devices: []IODevice{{Major: 7, Minor: 0, Rbps: 1 << 20, Wbps: Unlimited, Riops: 100},
			{Major: 8, Minor: 0, Wiops: 50}}},
		Pids:    &Pids{Max: 16},
		HugeTLB: []HugeTLB{{PageSize: "2MB", Max: 4 << 21}, {PageSize: "1GB", Max: Zero}},
	}
}

func TestApplyWritesInOrder(t *testing.T) {
	f := newFakeRoot(t, true)
	if err := f.cg.Apply(fullResources()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"parent/child/cpuset.cpus=0-1",
		"parent/child/cpuset.mems=0",
		"parent/child/cpu.weight=400",
		"parent/child/cpu.idle=0",
		"parent/child/cpu.max=50000 100000",
		"parent/child/cpu.max.burst=10000",
		"parent/child/memory.min=33554432",
		"parent/child/memory.low=67108864",
		"parent/child/memory.high=419430400",
		"parent/child/memory.max=536870912",
		"parent/child/memory.swap.max=0",
		"parent/child/memory.oom.group=1",
		"parent/child/io.weight=default 200",
		"parent/child/io.max=7:0 rbps=1048576 wbps=max riops=100",
		"parent/child/io.max=8:0 wiops=50",
		"parent/child/pids.max=16",
		"parent/child/hugetlb.2MB.max=8388608",
		"parent/child/hugetlb.1GB.max=0",
	}
	if !slices.Equal(f.log, want) {
		t.Fatalf("writes:\n%q\nwant:\n%q", f.log, want)
	}
	if got := f.read(t, "memory.max"); got != "536870912" {
		t.Errorf("memory.max = %q", got)
	}
}

func TestApplyPartialLeavesOthers(t *testing.T) {
	f := newFakeRoot(t, true)
	before := f.snapshotTree(t)
	if err := f.cg.Apply(Resources{Pids: &Pids{Max: Unlimited}, Memory: &Memory{}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"parent/child/pids.max=max"}; !slices.Equal(f.log, want) {
		t.Fatalf("writes %q, want %q", f.log, want)
	}
	if d := diffTrees(before, f.snapshotTree(t)); len(d) != 0 {
		t.Errorf("files changed: %q", d) // pids.max was "max" already
	}
}

func TestApplyEnablesControllersTopDown(t *testing.T) {
	f := newFakeRoot(t, false)
	// Boundary is parent's parent (the fake root): enabling happens in
	// root and parent, never above root.
	f.cg.boundary = f.root
	err := f.cg.Apply(Resources{Pids: &Pids{Max: 5}, Memory: &Memory{Max: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cgroup.subtree_control=+memory +pids",
		"parent/cgroup.subtree_control=+memory +pids",
		"parent/child/memory.max=1048576",
		"parent/child/pids.max=5",
	}
	if !slices.Equal(f.log, want) {
		t.Fatalf("writes:\n%q\nwant:\n%q", f.log, want)
	}
}

func TestApplyRollsBackOnKernelRefusal(t *testing.T) {
	f := newFakeRoot(t, false)
	before := f.snapshotTree(t)
	hook := f.cg.writeHook
	f.cg.writeHook = func(path, value string) error {
		if err := hook(path, value); err != nil {
			return err
		}
		if len(f.log) > 0 && f.log[len(f.log)-1] == "parent/child/pids.max=16" {
			return unix.EINVAL
		}
		return nil
	}
	err := f.cg.Apply(fullResources())
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Apply: %v, want EINVAL", err)
	}
	var fe *StepError
	if !errors.As(err, &fe) || fe.Value != "16" {
		t.Errorf("error %v does not name the refused write", err)
	}
	// Everything written before pids.max is restored, subtree_control too.
	// The fake files are plain files, so the enabling "+..." and its undo
	// "-..." leave a different text; compare the limit files only.
	after := f.snapshotTree(t)
	for p, v := range before {
		if filepathBase(p) == "cgroup.subtree_control" {
			continue
		}
		if filepathBase(p) == "io.max" && v == "" {
			// Restoring a device that had no line writes all-"max",
			// which the kernel shows as no line again.
			v = after[p]
		}
		if got := after[p]; trim(got) != trim(v) {
			t.Errorf("%s: %q after rollback, was %q", p, got, v)
		}
	}
	last := f.log[len(f.log)-1]
	if last != "parent/cgroup.subtree_control=-cpuset" {
		t.Errorf("last write %q, want the first enabled controller disabled last", last)
	}
}

func TestApplyMissingFileWritesNothing(t *testing.T) {
	f := newFakeRoot(t, true)
	if err := removeFile(f.cg.path, "pids.max"); err != nil {
		t.Fatal(err)
	}
	before := f.snapshotTree(t)
	err := f.cg.Apply(Resources{Memory: &Memory{Max: 1 << 30}, Pids: &Pids{Max: 3}})
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Apply: %v, want ENOENT", err)
	}
	if len(f.log) != 0 {
		t.Errorf("wrote %q", f.log)
	}
	if d := diffTrees(before, f.snapshotTree(t)); len(d) != 0 {
		t.Errorf("files changed: %q", d)
	}
}

func TestApplyV1BoundWritesNothing(t *testing.T) {
	f := newFakeRoot(t, false)
	f.h.Controllers = []string{"hugetlb"}
	f.h.V1 = map[string]string{"memory": "/sys/fs/cgroup/memory", "pids": ""}
	before := f.snapshotTree(t)
	err := f.cg.Apply(Resources{HugeTLB: []HugeTLB{{PageSize: "2MB", Max: 1 << 21}}, Memory: &Memory{Max: 1 << 20}})
	var v1 *V1BoundError
	if !errors.As(err, &v1) || v1.Controller != "memory" {
		t.Fatalf("Apply: %v, want *V1BoundError for memory", err)
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Error("V1BoundError does not match ErrNotSupported")
	}
	if want := `cgroup: controller "memory" is bound to cgroup v1 on this host (mounted at /sys/fs/cgroup/memory)`; err.Error() != want {
		t.Errorf("message %q", err)
	}
	if len(f.log) != 0 || len(diffTrees(before, f.snapshotTree(t))) != 0 {
		t.Errorf("wrote %q", f.log)
	}
}

func TestApplyNotDelegated(t *testing.T) {
	f := newFakeRoot(t, false)
	writeFileT(t, f.parent, "cgroup.controllers", "cpu pids\n")
	err := f.cg.Apply(Resources{Memory: &Memory{Max: 1 << 20}})
	var ce *ControllerError
	if !errors.As(err, &ce) || ce.Controller != "memory" || ce.Path != f.parent {
		t.Fatalf("Apply: %v, want *ControllerError for memory at parent", err)
	}
	if len(f.log) != 0 {
		t.Errorf("wrote %q", f.log)
	}
}

func TestNewRemovesWhatItMadeOnFailure(t *testing.T) {
	f := newFakeRoot(t, true)
	// In a fake root mkdir creates no control files, so applying fails
	// at the snapshot; New must remove both directories it made.
	_, err := newIn(f.h, "parent/a/b", Resources{Pids: &Pids{Max: 1}})
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("newIn: %v, want ENOENT", err)
	}
	if exists(f.parent + "/a") {
		t.Error("parent/a left behind")
	}
	_, err = newIn(f.h, "parent/child", Resources{})
	if !errors.Is(err, unix.EEXIST) {
		t.Errorf("newIn on existing: %v, want EEXIST", err)
	}
	cg, err := newIn(f.h, "parent/c2", Resources{})
	if err != nil {
		t.Fatal(err)
	}
	if cg.boundary != f.parent {
		t.Errorf("boundary %s, want %s", cg.boundary, f.parent)
	}
	// Delete on a fake root skips BPF clean-up (nothing can be attached
	// there) and removes the directory.
	if err := cg.Delete(); err != nil || exists(f.parent+"/c2") {
		t.Errorf("Delete: %v", err)
	}
	if err := cg.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestResolvePath(t *testing.T) {
	h := &Hierarchy{Root: "/sys/fs/cgroup"}
	for in, want := range map[string]string{
		"a/b":                 "/sys/fs/cgroup/a/b",
		"/sys/fs/cgroup/x":    "/sys/fs/cgroup/x",
		"/sys/fs/cgroup/x/..": "/sys/fs/cgroup",
	} {
		if got, err := h.resolve(in); err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "../x", "/sys/fs/cgroupx", "/tmp"} {
		var ie *InvalidError
		if _, err := h.resolve(in); !errors.As(err, &ie) {
			t.Errorf("resolve(%q): %v, want *InvalidError", in, err)
		}
	}
}

// Resolve is resolve on the detected hierarchy: the path New makes.
func TestResolveDetected(t *testing.T) {
	h, err := Detect()
	if err != nil {
		t.Skipf("no cgroup v2: %v", err)
	}
	if got, err := Resolve("a/b"); err != nil || got != filepath.Join(h.Root, "a/b") {
		t.Errorf("Resolve(a/b) = %q, %v; want it below %s", got, err, h.Root)
	}
	var ie *InvalidError
	if _, err := Resolve("/tmp"); !errors.As(err, &ie) {
		t.Errorf("Resolve(/tmp): %v, want *InvalidError", err)
	}
}

func TestAddProcessRejectsNegative(t *testing.T) {
	f := newFakeRoot(t, true)
	var ie *InvalidError
	if err := f.cg.AddProcess(-1); !errors.As(err, &ie) || ie.Field != "pid" {
		t.Errorf("AddProcess(-1): %v", err)
	}
	if err := f.cg.AddThread(-2); !errors.As(err, &ie) || ie.Field != "tid" {
		t.Errorf("AddThread(-2): %v", err)
	}
	if len(f.log) != 0 {
		t.Errorf("wrote %q", f.log)
	}
}
