package cgroup

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// benchCgroup returns a populated cgroup to read stats from: a real one
// with every controller when the host offers them (the VM), otherwise the
// fake root with fixtures (parsing cost only).
func benchCgroup(b *testing.B) (*Cgroup, StatMask) {
	h, err := Detect()
	if err == nil && slices.Contains(h.Controllers, "memory") && slices.Contains(h.Controllers, "io") && testutil.InVM() {
		parent := testutil.TempCgroup(b)
		var huge []HugeTLB
		for _, s := range h.HugePageSizes {
			huge = append(huge, HugeTLB{PageSize: s, Max: Unlimited})
		}
		cg, err := New(filepath.Join(parent, "bench"), Resources{CPU: &CPU{Weight: 100},
			Memory: &Memory{Max: Unlimited}, IO: &IO{Weight: 100}, Pids: &Pids{Max: Unlimited}, HugeTLB: huge})
		if err != nil {
			b.Fatal(err)
		}
		cmd := testutil.HelperCommand(b, "sleep", "600")
		cmd.SysProcAttr = sysProcIn(cg)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = cg.Delete() })
		return cg, StatAll &^ StatNetwork
	}
	dir := b.TempDir()
	statFixtures(b, dir)
	cg, err := openAt(&Hierarchy{Root: dir, HugePageSizes: []string{"2MB", "1GB"}}, dir, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cg.Close() })
	return cg, StatAll &^ StatNetwork
}

func BenchmarkStats(b *testing.B) {
	cg, mask := benchCgroup(b)
	var s Stats
	b.ReportAllocs()
	for b.Loop() {
		if err := cg.Stats(&s, mask); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStatsCPUMemory(b *testing.B) {
	cg, _ := benchCgroup(b)
	var s Stats
	b.ReportAllocs()
	for b.Loop() {
		if err := cg.Stats(&s, StatCPU|StatMemory); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateApplyDelete creates a cgroup with cpu, memory and pids
// limits and deletes it: the cycle containerd/cgroups measures.
func BenchmarkCreateApplyDelete(b *testing.B) {
	testutil.RequireRoot(b)
	h, err := Detect()
	if err != nil {
		b.Fatal(err)
	}
	if err := h.checkControllers([]string{"cpu", "memory", "pids"}); err != nil {
		b.Skip(err)
	}
	parent := testutil.TempCgroup(b)
	p := filepath.Join(parent, "c")
	r := Resources{CPU: &CPU{Max: CPUs(0.5), Weight: 200}, Memory: &Memory{Max: 64 << 20}, Pids: &Pids{Max: 64}}
	// Enable the controllers in parent once, as a long-running manager
	// would have.
	warm, err := New(p, r)
	if err != nil {
		b.Fatal(err)
	}
	if err := warm.Delete(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cg, err := New(p, r)
		if err != nil {
			b.Fatal(err)
		}
		if err := cg.Delete(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatsByGroup shows what each StatMask group costs.
func BenchmarkStatsByGroup(b *testing.B) {
	cg, _ := benchCgroup(b)
	for _, g := range []struct {
		name string
		m    StatMask
	}{{"CPU", StatCPU}, {"Memory", StatMemory}, {"IO", StatIO}, {"Pids", StatPids}, {"HugeTLB", StatHugeTLB}, {"PSI", StatPSI},
		{"Limits", StatLimits}} {
		b.Run(g.name, func(b *testing.B) {
			var s Stats
			b.ReportAllocs()
			for b.Loop() {
				if err := cg.Stats(&s, g.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
