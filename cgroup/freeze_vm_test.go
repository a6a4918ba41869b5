package cgroup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/devfilter"
	"github.com/confinelab/confine/internal/testutil"
)

// TestVMFreezeKillForking: under a child that forks continuously, Freeze
// stops the process set from changing, and both Kill (cgroup.kill) and the
// pre-5.14 fallback (freeze, SIGKILL, thaw) empty the cgroup.
func TestVMFreezeKillForking(t *testing.T) {
	testutil.RequireVM(t)
	testutil.CheckLeaks(t)
	for _, fallback := range []bool{false, true} {
		c := openTemp(t)
		w := watchOne(t, 64, c)
		startChild(t, c, "forkloop")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		waitForking(t, c)
		if err := c.Freeze(ctx); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, w, c, EventFrozen)
		a, _ := c.Processes()
		time.Sleep(300 * time.Millisecond)
		b, _ := c.Processes()
		if !slices.Equal(a, b) {
			t.Fatalf("process set changed while frozen: %v -> %v", a, b)
		}
		var err error
		if fallback {
			err = c.killFallback(ctx)
		} else {
			err = c.Thaw(ctx)
			if err == nil {
				err = c.killAll(ctx)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitEmpty(ctx); err != nil {
			t.Fatalf("fallback=%v: %v", fallback, err)
		}
		expectEvent(t, w, c, EventEmpty)
		cancel()
		w.Close()
	}
}

// waitForking waits (test-side, up to 60 s: a Go binary starts slowly
// under TCG) until the forkloop child has children in the cgroup.
func waitForking(t *testing.T, c *Cgroup) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pids, err := c.Processes()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("forkloop not forking after 60s: %v", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestVMWatcherOOM: a child allocating past memory.max is OOM-killed and
// the watcher reports EventOOMKill with its count.
func TestVMWatcherOOM(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	c := openTemp(t)
	if err := os.WriteFile(filepath.Join(c.Path(), "memory.max"), []byte("16777216"), 0); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(c.Path(), "memory.swap.max"), []byte("0"), 0)
	w := watchOne(t, 16, c)
	cmd := testutil.HelperCommand(t, "alloc", "64")
	cmd.SysProcAttr = childInto(c)
	if err := cmd.Run(); err == nil {
		t.Fatal("allocating 64 MiB under memory.max 16 MiB succeeded")
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if ev.Kind == EventOOMKill {
				if ev.Count < 1 || ev.Delta < 1 {
					t.Fatalf("OOM kill event without count: %+v", ev)
				}
				return
			}
		case <-timeout:
			t.Fatal("no EventOOMKill within 30s")
		}
	}
}

// TestVMDevicesPinned: with bpffs mounted the device program is attached
// through a pinned link that later updates replace in place; deleteDevices
// unpins and removes the pin directory.
func TestVMDevicesPinned(t *testing.T) {
	testutil.RequireVM(t)
	testutil.CheckLeaks(t)
	if err := bpfpin.Available(); err != nil {
		testutil.Skip(t, "%v", err)
	}
	c := openTemp(t)
	dir, err := bpfpin.Dir(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		rules := append(DefaultDevices(), DenyDevice(CharDevice, 1, int64(3+2*(i%2)), DeviceRWM))
		if err := c.applyDevices(rules); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, devicesPin)); err != nil {
		t.Fatalf("no pinned link: %v", err)
	}
	ids, err := devfilter.Attached(c.Path())
	if err != nil || len(ids) != 1 {
		t.Fatalf("%d programs (%v), want 1", len(ids), err)
	}
	// i=99 denied 1:5 (/dev/zero); /dev/null stays allowed.
	if got := runIn(t, c, "devopen", "/dev/null", "/dev/zero"); got != "0\n1" {
		t.Fatalf("open results %q, want 0 and EPERM(1)", got)
	}
	if err := c.deleteDevices(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("pin dir left behind: %v", err)
	}
	if ids, _ := devfilter.Attached(c.Path()); len(ids) != 0 {
		t.Fatalf("%d programs after deleteDevices", len(ids))
	}
}
