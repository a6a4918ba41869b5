// Package cgcompare benchmarks confine's cgroup package against
// github.com/containerd/cgroups/v3 (package cgroup2) and
// github.com/opencontainers/cgroups (package fs2, runc's manager) on the
// same operations, run one after the other in the same process: create
// with cpu, memory and pids limits and delete, a one-field update, Stats,
// adding a process, freeze+thaw, and kill.
//
// It needs a pure cgroup v2 host with the cpu, memory and pids controllers
// at /sys/fs/cgroup (the repository's qemu VM tier) and root; elsewhere
// every benchmark skips. See README.md for how to run it.
package cgcompare

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cdcg "github.com/containerd/cgroups/v3/cgroup2"
	occg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
)

// root is where all three libraries expect the unified hierarchy.
const root = "/sys/fs/cgroup"

// envHelper makes the test binary a process to put in a cgroup: it sleeps
// until killed.
const envHelper = "CGCOMPARE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "sleep" {
		signal.Ignore(syscall.SIGTERM)
		select {}
	}
	os.Exit(m.Run())
}

// The limits every library applies on create: half a CPU, weight 200,
// 64 MiB, 64 tasks.
const (
	quota  = 50000
	period = 100000
	weight = 200
	memMax = 64 << 20
	pidMax = 64
)

// requireV2 skips unless this is a pure cgroup v2 host offering the
// controllers the benchmarks use, and we are root.
func requireV2(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		b.Skipf("%s is not a cgroup v2 mount (a hybrid or v1 host): run in the VM, see README.md", root)
	}
	have, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		b.Skip(err)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !slices.Contains(strings.Fields(string(have)), c) {
			b.Skipf("controller %s not available at %s (have %s)", c, root, strings.TrimSpace(string(have)))
		}
	}
}

// parent makes a scratch cgroup below the root with every controller the
// root offers enabled for its children, as a long-running manager's would
// be (Stats reads io and hugetlb files too), and removes it when b ends.
// It returns its name relative to root.
func parent(b *testing.B) string {
	b.Helper()
	requireV2(b)
	name := fmt.Sprintf("cgcompare-%d-%d", os.Getpid(), time.Now().UnixNano())
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { removeTree(b, dir) })
	have, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		b.Fatal(err)
	}
	enable := "+" + strings.Join(strings.Fields(string(have)), " +")
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(enable), 0); err != nil {
		b.Fatal(err)
	}
	return name
}

// removeTree kills what is left below dir and removes it, deepest first.
func removeTree(b *testing.B, dir string) {
	_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		for range 100 {
			err := unix.Rmdir(dirs[i])
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			time.Sleep(10 * time.Millisecond) // dying processes
		}
	}
	if _, err := os.Stat(dir); err == nil {
		b.Errorf("scratch cgroup %s left behind", dir)
	}
}

// sleeper starts a process that sleeps inside the cgroup directory dir
// (clone3 CLONE_INTO_CGROUP) and reaps it when b ends.
func sleeper(b *testing.B, dir string) *exec.Cmd {
	b.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envHelper+"=sleep")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// Each library's view of the same limits.
func confineResources() cgroup.Resources {
	return cgroup.Resources{CPU: &cgroup.CPU{Max: &cgroup.CPUMax{Quota: quota * time.Microsecond,
		Period: period * time.Microsecond}, Weight: weight},
		Memory: &cgroup.Memory{Max: memMax}, Pids: &cgroup.Pids{Max: pidMax}}
}

func containerdResources() *cdcg.Resources {
	q, p, w, m := int64(quota), uint64(period), uint64(weight), int64(memMax)
	return &cdcg.Resources{CPU: &cdcg.CPU{Weight: &w, Max: cdcg.NewCPUMax(&q, &p)},
		Memory: &cdcg.Memory{Max: &m}, Pids: &cdcg.Pids{Max: pidMax}}
}

func runcResources() *occg.Resources {
	pids := int64(pidMax)
	return &occg.Resources{CpuQuota: quota, CpuPeriod: period, CpuWeight: weight,
		Memory: memMax, PidsLimit: &pids, SkipDevices: true}
}

// statMask is what confine reads for BenchmarkStats: every group but the
// bandwidth counters (no limiter is attached).
const statMask = cgroup.StatAll &^ cgroup.StatNetwork

// createDelete is each library's create-with-limits and delete, called
// directly: the handles below would add their closures' allocations.
var createDelete = map[string]func(parent, name string) error{
	"confine": func(parent, name string) error {
		c, err := cgroup.New(filepath.Join(parent, name), confineResources())
		if err != nil {
			return err
		}
		return c.Delete()
	},
	"containerd": func(parent, name string) error {
		m, err := cdcg.NewManager(root, "/"+parent+"/"+name, containerdResources())
		if err != nil {
			return err
		}
		return m.Delete()
	},
	"runc-fs2": func(parent, name string) error {
		r := runcResources()
		m, err := fs2.NewManager(&occg.Cgroup{Resources: r}, filepath.Join(root, parent, name))
		if err != nil {
			return err
		}
		if err := m.Apply(-1); err != nil {
			return err
		}
		if err := m.Set(r); err != nil {
			_ = m.Destroy()
			return err
		}
		return m.Destroy()
	},
}

// handle is one library's cgroup, for the benchmarks that share a body.
type handle struct {
	dir    string
	update func(mem int64) error
	stats  func() error
	add    func(pid int) error
	freeze func() error
	thaw   func() error
	kill   func() error
	delete func() error
}

// libs lists the libraries; each make creates the cgroup name below
// parent with the create limits.
var libs = []struct {
	name string
	make func(parent, name string) (*handle, error)
}{
	{"confine", makeConfine},
	{"containerd", makeContainerd},
	{"runc-fs2", makeRunc},
}

func makeConfine(parent, name string) (*handle, error) {
	c, err := cgroup.New(filepath.Join(parent, name), confineResources())
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	var s cgroup.Stats
	return &handle{dir: c.Path(),
		update: func(mem int64) error { return c.Apply(cgroup.Resources{Memory: &cgroup.Memory{Max: mem}}) },
		stats:  func() error { return c.Stats(&s, statMask) },
		add:    c.AddProcess,
		freeze: func() error { return c.Freeze(ctx) },
		thaw:   func() error { return c.Thaw(ctx) },
		kill:   func() error { return c.Kill(ctx) },
		delete: c.Delete,
	}, nil
}

func makeContainerd(parent, name string) (*handle, error) {
	m, err := cdcg.NewManager(root, "/"+parent+"/"+name, containerdResources())
	if err != nil {
		return nil, err
	}
	return &handle{dir: filepath.Join(root, parent, name),
		update: func(mem int64) error { return m.Update(&cdcg.Resources{Memory: &cdcg.Memory{Max: &mem}}) },
		stats:  func() error { _, err := m.Stat(); return err },
		add:    func(pid int) error { return m.AddProc(uint64(pid)) },
		freeze: m.Freeze,
		thaw:   m.Thaw,
		kill:   m.Kill,
		delete: m.Delete,
	}, nil
}

func makeRunc(parent, name string) (*handle, error) {
	dir := filepath.Join(root, parent, name)
	m, err := fs2.NewManager(&occg.Cgroup{Resources: runcResources()}, dir)
	if err != nil {
		return nil, err
	}
	if err := m.Apply(-1); err != nil { // creates the directory
		return nil, err
	}
	if err := m.Set(runcResources()); err != nil {
		_ = m.Destroy()
		return nil, err
	}
	return &handle{dir: dir,
		update: func(mem int64) error { return m.Set(&occg.Resources{Memory: mem, SkipDevices: true}) },
		stats:  func() error { _, err := m.GetStats(); return err },
		add:    func(pid int) error { return m.AddPid("", pid) },
		freeze: func() error { return m.Freeze(occg.Frozen) },
		thaw:   func() error { return m.Freeze(occg.Thawed) },
		// fs2 has no kill; runc writes cgroup.kill itself (libcontainer's
		// signalAllProcesses), with the library's WriteFile.
		kill:   func() error { return occg.WriteFile(dir, "cgroup.kill", "1") },
		delete: m.Destroy,
	}, nil
}

// forEach runs body as one sub-benchmark per library, in the same order
// every time, so -count repeats interleave the libraries.
func forEach(b *testing.B, body func(b *testing.B, parent string, mk func(parent, name string) (*handle, error))) {
	p := parent(b)
	for _, l := range libs {
		b.Run(l.name, func(b *testing.B) { body(b, p, l.make) })
	}
}

// mustMake creates a long-lived cgroup for the benchmarks that reuse one.
func mustMake(b *testing.B, mk func(parent, name string) (*handle, error), parent, name string) *handle {
	b.Helper()
	h, err := mk(parent, name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.delete() })
	return h
}

// BenchmarkCreateDelete creates a cgroup with cpu.max, cpu.weight,
// memory.max and pids.max and deletes it.
func BenchmarkCreateDelete(b *testing.B) {
	p := parent(b)
	for _, l := range libs {
		b.Run(l.name, func(b *testing.B) {
			cd := createDelete[l.name]
			b.ReportAllocs()
			for b.Loop() {
				if err := cd(p, "c"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpdateOne changes memory.max of an existing cgroup, alternating
// between two values so every write is a change.
func BenchmarkUpdateOne(b *testing.B) {
	forEach(b, func(b *testing.B, p string, mk func(parent, name string) (*handle, error)) {
		h := mustMake(b, mk, p, "u")
		b.ReportAllocs()
		i := int64(0)
		for b.Loop() {
			i++
			if err := h.update(memMax + (i%2)<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStats reads every statistic each library offers (confine:
// StatAll without network counters) of a cgroup holding one process.
func BenchmarkStats(b *testing.B) {
	forEach(b, func(b *testing.B, p string, mk func(parent, name string) (*handle, error)) {
		h := mustMake(b, mk, p, "s")
		sleeper(b, h.dir)
		b.ReportAllocs()
		for b.Loop() {
			if err := h.stats(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAddProcess moves one process back and forth between two
// cgroups.
func BenchmarkAddProcess(b *testing.B) {
	forEach(b, func(b *testing.B, p string, mk func(parent, name string) (*handle, error)) {
		x, y := mustMake(b, mk, p, "a1"), mustMake(b, mk, p, "a2")
		pid := sleeper(b, x.dir).Process.Pid
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			to := x
			if i%2 == 1 {
				to = y
			}
			if err := to.add(pid); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFreezeThaw freezes and thaws a cgroup holding one process.
func BenchmarkFreezeThaw(b *testing.B) {
	forEach(b, func(b *testing.B, p string, mk func(parent, name string) (*handle, error)) {
		h := mustMake(b, mk, p, "f")
		sleeper(b, h.dir)
		b.ReportAllocs()
		for b.Loop() {
			if err := h.freeze(); err != nil {
				b.Fatal(err)
			}
			if err := h.thaw(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkKill kills a cgroup's one process and reaps it; starting the
// process is not timed.
func BenchmarkKill(b *testing.B) {
	forEach(b, func(b *testing.B, p string, mk func(parent, name string) (*handle, error)) {
		h := mustMake(b, mk, p, "k")
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			cmd := sleeper(b, h.dir)
			b.StartTimer()
			if err := h.kill(); err != nil {
				b.Fatal(err)
			}
			if err := cmd.Wait(); err == nil {
				b.Fatal("process survived the kill")
			}
		}
	})
}
