package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// wantFreed fails the test unless the kernel has freed o's programs at
// once, as a manager's Delete does, and everything of o within 5 s: the
// programs release their maps from a work item.
func wantFreed(t *testing.T, o limiterObjects) {
	t.Helper()
	for _, id := range o.Progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("program %d still loaded", id)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("program %d: %v, want ENOENT", id, err)
		}
	}
	waitFreed(t, o)
}

// waitFreed fails the test unless the kernel frees all of o within 5 s.
func waitFreed(t *testing.T, o limiterObjects) {
	t.Helper()
	if len(o.Maps) < 4 { // config, state, counters, flows
		t.Fatalf("limiter maps %v, want at least 4: the test would prove little", o.Maps)
	}
	deadline := time.Now().Add(5 * time.Second)
	for left := o.Left(); len(left) > 0; left = o.Left() {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the sweep the kernel still has %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantLimited fails the test unless the cgroup's limiter is whole: every
// pin there, and its counters readable through Stats.
func wantLimited(t *testing.T, c *Cgroup) {
	t.Helper()
	dir, err := c.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range bwprog.PinNames {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: pin %s: %v", c.path, name, err)
		}
	}
	if st, err := networkStatsOf(c); err != nil || !st.Limited {
		t.Errorf("%s: network stats %+v, %v; want limited", c.path, st, err)
	}
}

// limitNoDelete applies a network limit to a new cgroup, as a manager
// does before it is SIGKILLed: c is closed at cleanup, never deleted.
func limitNoDelete(t *testing.T) *Cgroup {
	t.Helper()
	c := openCgroup(t, testutil.TempCgroup(t))
	if err := c.applyNetwork(&Network{EgressRate: 10e6, IngressRate: 5e6}); err != nil {
		t.Fatalf("applyNetwork: %v", err)
	}
	return c
}

// A cgroup removed without Delete (its manager's fds closed, its
// directory removed by someone else) leaves its limiter pinned; the sweep
// removes the pins and the kernel frees the programs and maps, while a
// live cgroup's limiter stays in force.
func TestSweepPinsNetwork(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	testutil.CheckLeaks(t)
	fs := bpfpin.FS(useBPFFS(t))
	root := testutil.RequireUnified(t)
	gone, live := limitNoDelete(t), limitNoDelete(t)
	goneDir, err := gone.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	objs := limiterObjectsOf(t, gone)
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Rmdir(gone.path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(goneDir, bwprog.PinEgress)); err != nil {
		t.Fatalf("pins gone before the sweep (test proves nothing): %v", err)
	}
	sweepsOnly(t, fs, root, goneDir)
	wantFreed(t, objs)
	wantLimited(t, live)
	if dirs, err := sweepPins(fs, fs, root); err != nil || len(dirs) != 0 {
		t.Fatalf("second sweepPins = %v, %v; want nothing", dirs, err)
	}
	liveObjs := limiterObjectsOf(t, live)
	if err := live.deleteNetwork(); err != nil {
		t.Fatal(err)
	}
	wantFreed(t, liveObjs)
	if _, err := os.Stat(fs.Root()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("confine root left after the last cgroup: %v", err)
	}
	if _, err := sweepPins(fs, fs, t.TempDir()); err == nil {
		t.Fatal("sweepPins resolving ids off cgroup2: want an error")
	}
}

// sweepsOnly sweeps fs (ids resolved below root) and fails the test
// unless it cleaned up the pin directory dir, and it alone.
func sweepsOnly(t *testing.T, fs bpfpin.FS, root, dir string) {
	t.Helper()
	if dirs, err := sweepPins(fs, fs, root); err != nil || !slices.Equal(dirs, []string{dir}) {
		t.Fatalf("sweepPins = %v, %v; want [%s]", dirs, err, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		left, _ := os.ReadDir(dir)
		t.Fatalf("removed cgroup's pin directory left: %v %v", left, err)
	}
}

// A removed cgroup that a socket made in it still holds is dying: the
// kernel keeps the limiter attached to it (its links still name the
// cgroup), but it no longer resolves by id, and a sweep removes the pins
// and frees the limiter while the socket lives on.
func TestSweepPinsDyingNetwork(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	testutil.CheckLeaks(t)
	fs := bpfpin.FS(useBPFFS(t))
	gone := limitNoDelete(t)
	dir, err := gone.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	id, err := gone.pinID()
	if err != nil {
		t.Fatal(err)
	}
	objs := limiterObjectsOf(t, gone)
	sock := testutil.SocketFrom(t, gone.path)
	defer unix.Close(sock)
	gone.Close()
	if err := unix.Rmdir(gone.path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a released cgroup's links go defunct within 10-20 ms
	l, err := link.LoadPinnedLink(filepath.Join(dir, bwprog.PinEgress), nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.Info()
	l.Close()
	if err != nil || info.Cgroup() == nil || info.Cgroup().CgroupId != id {
		t.Fatalf("egress link of a dying cgroup: %+v, %v; want still attached to %d", info.Cgroup(), err, id)
	}
	sweepsOnly(t, fs, testutil.RequireUnified(t), dir)
	wantFreed(t, objs)
}

// A pin directory holding only part of a limiter (its manager was killed
// halfway through Attach, or through Delete) is swept too.
func TestSweepPinsPartialNetwork(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	testutil.CheckLeaks(t)
	fs := bpfpin.FS(useBPFFS(t))
	gone := limitNoDelete(t)
	dir, err := gone.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	objs := limiterObjectsOf(t, gone)
	for _, name := range []string{bwprog.PinConfig, bwprog.PinIngress} {
		if err := bpfpin.Unpin(dir, name); err != nil {
			t.Fatal(err)
		}
	}
	gone.Close()
	if err := unix.Rmdir(gone.path); err != nil {
		t.Fatal(err)
	}
	sweepsOnly(t, fs, testutil.RequireUnified(t), dir)
	// Freed later (pins dropped without an fd go from a work item), but
	// freed.
	waitFreed(t, objs)
}

// Sweeps racing cgroups being created, limited and deleted never remove
// a live cgroup's limiter: each keeps every pin and its counters while it
// lives. A sweep may name only a cgroup whose Delete has finished its
// unpinning (the sweep listed its directory, then the rmdir came before
// the sweep asked the kernel): it removes nothing there.
func TestSweepPinsKeepsLiveNetwork(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	testutil.CheckLeaks(t)
	fs := bpfpin.FS(useBPFFS(t))
	root := testutil.RequireUnified(t)
	live := limitNoDelete(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	var deleted sync.Map // pin directories of cgroups about to be removed
	sweeps, late := 0, 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sweeps++
			dirs, err := sweepPins(fs, fs, root)
			for _, d := range dirs {
				if _, ok := deleted.Load(d); !ok {
					err = errors.Join(err, fmt.Errorf("%s: not a deleted cgroup's", d))
				}
			}
			late += len(dirs)
			if err != nil {
				select {
				case errs <- fmt.Errorf("sweep among live cgroups = %v: %w", dirs, err):
				default:
				}
			}
		}
	}()
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt() // also when a Fatal ends the test early
	for range 20 {
		c := limitNoDelete(t)
		wantLimited(t, c)
		time.Sleep(time.Millisecond) // a few sweeps see it live
		wantLimited(t, c)
		dir, err := c.networkPinDir()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.deleteNetwork(); err != nil {
			t.Error(err)
		}
		deleted.Store(dir, true)
		if err := unix.Rmdir(c.path); err != nil {
			t.Error(err)
		}
	}
	halt()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d sweeps ran alongside; %d named a cgroup just deleted", sweeps, late)
	if sweeps < 2 {
		t.Errorf("only %d sweeps ran alongside the cgroups", sweeps)
	}
	wantLimited(t, live)
	if err := live.deleteNetwork(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSweepNetwork is what a sweep of network pins costs with n pin
// directories of live cgroups (nothing to remove: the cost of asking the
// kernel about each), beside BenchmarkNetworkAttach, the cost of the
// attach a sweep on Apply would be added to.
func BenchmarkSweepNetwork(b *testing.B) {
	testutil.RequireRoot(b)
	fs := bpfpin.FS(useBPFFS(b))
	parent := testutil.TempCgroup(b)
	mnt, err := bpfpin.OpenCgroup(testutil.RequireUnified(b))
	if err != nil {
		b.Fatal(err)
	}
	defer mnt.Close()
	made := 0
	for _, n := range []int{10, 100, 1000} {
		for ; made < n; made++ {
			cg := filepath.Join(parent, fmt.Sprint(made))
			if err := unix.Mkdir(cg, 0o755); err != nil {
				b.Fatal(err)
			}
			id, err := bpfpin.CgroupID(cg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := fs.EnsureDirForID(id); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("dirs=%d", n), func(b *testing.B) {
			for b.Loop() {
				if gone, err := sweepNetwork(fs, mnt); err != nil || len(gone) != 0 {
					b.Fatalf("sweep = %v, %v", gone, err)
				}
			}
		})
	}
	b.Cleanup(func() {
		for i := range made {
			_ = unix.Rmdir(filepath.Join(parent, fmt.Sprint(i)))
		}
	})
}

// BenchmarkNetworkAttach attaches a limiter to a cgroup and removes it.
func BenchmarkNetworkAttach(b *testing.B) {
	testutil.RequireKernel(b, "5.12")
	useBPFFS(b)
	c := openCgroup(b, testutil.TempCgroup(b))
	for b.Loop() {
		if err := c.applyNetwork(&Network{EgressRate: 10e6}); err != nil {
			b.Fatal(err)
		}
		if err := c.deleteNetwork(); err != nil {
			b.Fatal(err)
		}
	}
}
