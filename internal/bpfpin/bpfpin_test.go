package bpfpin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/testutil"
)

func TestDirForID(t *testing.T) {
	if got, want := DirForID(4242), "/sys/fs/bpf/confine/cg-4242"; got != want {
		t.Fatalf("DirForID = %q, want %q", got, want)
	}
}

func TestCgroupIDNotDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CgroupID(f); err == nil {
		t.Fatal("CgroupID on a file: want error")
	}
	if _, err := CgroupID(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("CgroupID on missing path: %v, want ErrNotExist", err)
	}
}

// TestEnsureRemove creates and removes a pin directory when bpffs is
// mounted, and checks the typed error when it is not (this host).
func TestEnsureRemove(t *testing.T) { ensureRemove(t) }

// TestVMEnsureRemove runs the same where bpffs is mounted (the VM).
func TestVMEnsureRemove(t *testing.T) {
	testutil.RequireVM(t)
	if err := Available(); err != nil {
		testutil.Skip(t, "%v", err)
	}
	ensureRemove(t)
}

func ensureRemove(t *testing.T) {
	cg := testutil.TempCgroup(t)
	if err := Available(); err != nil {
		if !errors.Is(err, internal.ErrNotSupported) {
			t.Fatalf("Available: %v, want ErrNotSupported", err)
		}
		if _, err := EnsureDir(cg); !errors.Is(err, internal.ErrNotSupported) {
			t.Fatalf("EnsureDir without bpffs: %v, want ErrNotSupported", err)
		}
		return
	}
	dir, err := EnsureDir(cg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureDir(cg); err != nil {
		t.Fatalf("second EnsureDir: %v", err)
	}
	keep := filepath.Join(dir, "other")
	if err := os.Mkdir(keep, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RemoveDir(cg); err != nil {
		t.Fatalf("RemoveDir with other pins: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("RemoveDir removed a non-empty dir: %v", err)
	}
	os.Remove(keep)
	if err := RemoveDir(cg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pin dir still there: %v", err)
	}
	// By fd, as a manager holding the cgroup open does.
	fd, err := os.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	id, err := CgroupIDFromFD(int(fd.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if dir2, err := EnsureDirForID(id); err != nil || dir2 != dir {
		t.Fatalf("EnsureDirForID = %q, %v; want %q", dir2, err, dir)
	}
	if err := RemovePinDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pin dir still there: %v", err)
	}
}
