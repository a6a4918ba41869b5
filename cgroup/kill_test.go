package cgroup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// TestKillFallbackOrRemoved tells apart the two reasons cgroup.kill can be
// missing, on a fake root (a directory without cgroup.kill, as on kernels
// before 5.14): while the directory exists Kill runs the freeze/kill/thaw
// fallback; once it is removed Kill reports that, naming the directory,
// and does not try to freeze.
func TestKillFallbackOrRemoved(t *testing.T) {
	f := newFakeRoot(t, true)
	writeFileT(t, f.cg.path, "cgroup.events", "populated 0\nfrozen 1\n")
	writeFileT(t, f.cg.path, "cgroup.freeze", "0\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.cg.Kill(ctx); err != nil {
		t.Fatalf("Kill without cgroup.kill: %v", err)
	}
	if want := []string{"parent/child/cgroup.freeze=1", "parent/child/cgroup.freeze=0"}; !slices.Equal(f.log, want) {
		t.Fatalf("writes %q, want the fallback's %q", f.log, want)
	}
	f.log = nil
	if err := os.RemoveAll(f.cg.path); err != nil {
		t.Fatal(err)
	}
	checkKillRemoved(t, f.cg)
	if len(f.log) != 0 {
		t.Errorf("Kill of a removed cgroup wrote %q", f.log)
	}
}

// checkKillRemoved calls Kill on c, whose directory was removed.
func checkKillRemoved(t *testing.T, c *Cgroup) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Kill(ctx)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), c.Path()) {
		t.Fatalf("Kill of a removed cgroup: %v, want ErrNotExist naming %s", err, c.Path())
	}
	if strings.Contains(err.Error(), "freez") {
		t.Errorf("Kill of a removed cgroup tried the fallback: %v", err)
	}
}

// TestHostKillRemoved: on the host's unified hierarchy (cgroup.kill exists
// on this kernel) Kill kills a live cgroup's process, and Kill on a cgroup
// removed after New reports the removal, not a freeze error.
func TestHostKillRemoved(t *testing.T) { killRemoved(t) }

// TestVMKillRemoved is the same on a pure cgroup v2 host.
func TestVMKillRemoved(t *testing.T) {
	testutil.RequireVM(t)
	killRemoved(t)
}

func killRemoved(t *testing.T) {
	parent := hostParent(t)
	testutil.CheckLeaks(t)
	testutil.RequireKernel(t, "5.14")
	c, err := New(filepath.Join(parent, "k"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cmd := startChild(t, c, "sleep", "60")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("child exit: %v, want killed", err)
	}
	if err := unix.Rmdir(c.Path()); err != nil {
		t.Fatal(err)
	}
	checkKillRemoved(t, c)
	// A new cgroup at the same path does not hide the removal.
	again, err := New(c.Path(), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	checkKillRemoved(t, c)
	if err := again.Delete(); err != nil {
		t.Fatal(err)
	}
}
