package bpfpin

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/testutil"
)

func TestFSDefaultMatchesPackage(t *testing.T) {
	if Default.Root() != Root || Default.DirForID(7) != DirForID(7) {
		t.Fatalf("Default: root %q dir %q, want %q %q", Default.Root(), Default.DirForID(7), Root, DirForID(7))
	}
}

// TestFSPrivateMount creates and removes a pin directory on a private
// bpffs mount, and checks the typed error on a directory that is not one.
func TestFSPrivateMount(t *testing.T) {
	testutil.RequireRoot(t)
	plain := FS(t.TempDir())
	if _, err := plain.EnsureDirForID(1); !errors.Is(err, internal.ErrNotSupported) {
		t.Fatalf("EnsureDirForID off bpffs: %v, want ErrNotSupported", err)
	}
	mnt := t.TempDir()
	if err := unix.Mount("bpf", mnt, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	f := FS(mnt)
	dir, err := f.EnsureDirForID(42)
	if err != nil || dir != f.DirForID(42) {
		t.Fatalf("EnsureDirForID = %q, %v; want %q", dir, err, f.DirForID(42))
	}
	other, err := f.EnsureDirForID(43)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.RemovePinDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Root()); err != nil {
		t.Fatalf("root removed while %s remains: %v", other, err)
	}
	if err := f.RemovePinDir(other); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Root()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("root left after the last pin dir: %v", err)
	}
	if err := f.RemovePinDir(other); err != nil {
		t.Fatalf("second RemovePinDir: %v", err)
	}
}

// Mount mounts a BPF filesystem where there is none, and leaves one that
// is there alone.
func TestFSMount(t *testing.T) {
	testutil.RequireRoot(t)
	f := FS(t.TempDir())
	mounted, err := f.Mount()
	if err != nil || !mounted {
		t.Fatalf("Mount on a plain directory = %v, %v; want a new mount", mounted, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(string(f), unix.MNT_DETACH) })
	if err := f.Available(); err != nil {
		t.Fatalf("after Mount: %v", err)
	}
	if mounted, err := f.Mount(); err != nil || mounted {
		t.Fatalf("second Mount = %v, %v; want nothing to do", mounted, err)
	}
}
