package cgroup

import (
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// stepResources is what the step benchmarks create: cpu, memory and pids
// limits where the unified root offers them (the VM), else a hugetlb limit
// (this host's unified hierarchy offers only hugetlb), else nothing.
func stepResources(b *testing.B, h *Hierarchy) (Resources, string) {
	if h.checkControllers([]string{"cpu", "memory", "pids"}) == nil {
		return Resources{CPU: &CPU{Max: CPUs(0.5), Weight: 200}, Memory: &Memory{Max: 64 << 20}, Pids: &Pids{Max: 64}}, "cpu+memory+pids"
	}
	if slices.Contains(h.Controllers, "hugetlb") && len(h.HugePageSizes) > 0 {
		return Resources{HugeTLB: []HugeTLB{{PageSize: h.HugePageSizes[0], Max: 1 << 30}}}, "hugetlb"
	}
	return Resources{}, "none"
}

// BenchmarkSteps splits create-limit-delete into the steps New, Apply and
// Delete are made of, so each one's time and allocations can be read off
// on the host (hugetlb only) and in the VM (cpu, memory, pids). The
// sub-benchmark names are the rows of the cost table in the README of
// examples/confine/bench/cgcompare.
func BenchmarkSteps(b *testing.B) {
	testutil.RequireRoot(b)
	h, err := Detect()
	if err != nil {
		b.Fatal(err)
	}
	r, kind := stepResources(b, h)
	b.Logf("resources: %s", kind)
	parent := testutil.TempCgroup(b)
	p := filepath.Join(parent, "c")
	// A first New enables the controllers in parent, as a long-running
	// manager would have; c stays for the steps that need a cgroup.
	c, err := New(p, r)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Delete() })
	ws, err := r.plan(h)
	if err != nil {
		b.Fatal(err)
	}
	one := Resources{Memory: &Memory{Max: 64 << 20}}
	if kind != "cpu+memory+pids" {
		one = r
	}
	step := func(name string, fn func() error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	step("plan", func() error { _, err := r.plan(h); return err })
	step("checkControllers", func() error { return h.checkControllers(neededControllers(ws, nil)) })
	step("mkdir+open+close+rmdir", func() error {
		q := filepath.Join(parent, "raw")
		if err := unix.Mkdir(q, 0o755); err != nil {
			return err
		}
		fd, err := unix.Open(q, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
		return unix.Rmdir(q)
	})
	step("New(empty)+Delete", func() error {
		cg, err := New(filepath.Join(parent, "e"), Resources{})
		if err != nil {
			return err
		}
		return cg.Delete()
	})
	step("enableControllers(enabled)", func() error {
		_, err := c.enableControllers(neededControllers(ws, nil))
		return err
	})
	step("Apply(all)", func() error { return c.Apply(r) })
	step("Apply(one)", func() error { return c.Apply(one) })
	step("deleteDevices", c.deleteDevices)
	step("deleteNetwork", c.deleteNetwork)
	step("New+Delete", func() error {
		cg, err := New(filepath.Join(parent, "n"), r)
		if err != nil {
			return err
		}
		return cg.Delete()
	})
}
