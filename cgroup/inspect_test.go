package cgroup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStatLimitsFromFiles(t *testing.T) {
	f := newFakeRoot(t, true)
	writeFileT(t, f.cg.path, "cpu.max", "50000 200000\n")
	writeFileT(t, f.cg.path, "memory.max", "67108864\n")
	writeFileT(t, f.cg.path, "memory.swap.current", "4096\n")
	writeFileT(t, f.cg.path, "pids.max", "max\n")
	var s Stats
	if err := f.cg.Stats(&s, StatLimits); err != nil {
		t.Fatal(err)
	}
	want := LimitStats{CPUQuotaUsec: 50000, CPUPeriodUsec: 200000, MemoryMax: 64 << 20, SwapMax: 1<<64 - 1, PidsMax: 1<<64 - 1}
	if s.Limits != want || s.Memory.SwapCurrent != 4096 {
		t.Errorf("limits %+v swap %d, want %+v and 4096", s.Limits, s.Memory.SwapCurrent, want)
	}
	writeFileT(t, f.cg.path, "cpu.max", "max 100000\n")
	if err := f.cg.Stats(&s, StatCPUMax); err != nil || s.Limits.CPUQuotaUsec != 1<<64-1 || s.Limits.CPUPeriodUsec != 100000 {
		t.Errorf("cpu.max max: %+v, %v", s.Limits, err)
	}
	if n := testing.AllocsPerRun(20, func() { _ = f.cg.Stats(&s, StatLimits) }); n != 0 {
		t.Errorf("limit stats: %v allocs, want 0", n)
	}
}

func TestStatLimitsMissingOrMalformed(t *testing.T) {
	f := newFakeRoot(t, true)
	var s Stats
	// No memory.swap.current: no swap accounting. An error naming it, not 0.
	err := f.cg.Stats(&s, StatSwap)
	var se *StepError
	if !errors.Is(err, unix.ENOENT) || !errors.As(err, &se) || filepath.Base(se.Path) != "memory.swap.current" {
		t.Errorf("StatSwap without the file: %v", err)
	}
	for _, bad := range []string{"max max\n", "50000\n", "50000 100000 7\n", "-1 100000\n", ""} {
		writeFileT(t, f.cg.path, "cpu.max", bad)
		if err := f.cg.Stats(&s, StatCPUMax); err == nil {
			t.Errorf("cpu.max %q accepted: %+v", bad, s.Limits)
		}
	}
}

func FuzzParseCPUMax(f *testing.F) {
	f.Add([]byte("max 100000\n"))
	f.Add([]byte("1000 1000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, p, err := parseCPUMax(b)
		if err != nil {
			return
		}
		line, _ := nextLine(b)
		if p == 1<<64-1 || len(bytes.Fields(line)) != 2 {
			t.Errorf("%q parsed as %d %d", b, q, p)
		}
	})
}

func TestControllersAndAllProcessesFromFiles(t *testing.T) {
	f := newFakeRoot(t, true)
	got, err := f.cg.Controllers()
	if err != nil || !slices.Equal(got, []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}) {
		t.Errorf("Controllers = %v, %v", got, err)
	}
	writeFileT(t, f.cg.path, "cgroup.procs", "12\n7\n")
	for dir, procs := range map[string]string{"a": "30\n", "a/b": "7\n5\n", "c": ""} {
		if err := os.MkdirAll(filepath.Join(f.cg.path, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFileT(t, filepath.Join(f.cg.path, dir), "cgroup.procs", procs)
	}
	// A threaded descendant has no readable cgroup.procs (EOPNOTSUPP in
	// the kernel; here: a directory removed mid-walk has none at all).
	if err := os.MkdirAll(filepath.Join(f.cg.path, "gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	pids, err := f.cg.AllProcesses()
	if err != nil || !slices.Equal(pids, []int{5, 7, 12, 30}) {
		t.Errorf("AllProcesses = %v, %v; want [5 7 12 30]", pids, err)
	}
	writeFileT(t, filepath.Join(f.cg.path, "a"), "cgroup.procs", "x\n")
	if _, err := f.cg.AllProcesses(); err == nil {
		t.Error("malformed cgroup.procs of a descendant accepted")
	}
}

func TestHostAllProcessesWalksDescendants(t *testing.T) {
	parent := hostParent(t)
	cg, err := New(filepath.Join(parent, "top"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	leaf, err := New(filepath.Join(parent, "top", "leaf"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Close()
	a, b := startSleeper(t), startSleeper(t)
	if err := cg.AddProcess(a.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := leaf.AddProcess(b.Process.Pid); err != nil {
		t.Fatal(err)
	}
	want := []int{a.Process.Pid, b.Process.Pid}
	slices.Sort(want)
	pids, err := cg.AllProcesses()
	if err != nil || !slices.Equal(pids, want) {
		t.Errorf("AllProcesses = %v, %v; want %v", pids, err, want)
	}
	if own, _ := cg.Processes(); !slices.Equal(own, []int{a.Process.Pid}) {
		t.Errorf("Processes = %v, want only the top's own %d", own, a.Process.Pid)
	}
	_ = a.Process.Kill()
	_ = b.Process.Kill()
	_, _ = a.Process.Wait()
	_, _ = b.Process.Wait()
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
}
