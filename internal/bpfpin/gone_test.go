package bpfpin

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// ParseDirName reads back the id DirForID names a directory with, and
// nothing else.
func TestParseDirName(t *testing.T) {
	for _, id := range []uint64{1, 4242, 1<<64 - 1} {
		if got, ok := ParseDirName(filepath.Base(DirForID(id))); !ok || got != id {
			t.Errorf("ParseDirName(base of %s) = %d, %v; want %d", DirForID(id), got, ok, id)
		}
	}
	for _, name := range []string{"cg-0", "cg-", "cg--1", "cg-+1", "cg-1x", "dev-1", "cg-18446744073709551616", "prog"} {
		if id, ok := ParseDirName(name); ok {
			t.Errorf("ParseDirName(%q) = %d, want not a pin directory name", name, id)
		}
	}
}

// openRoot opens the cgroup2 root for CgroupGone.
func openRoot(t testing.TB) *os.File {
	t.Helper()
	mnt, err := OpenCgroup(testutil.RequireUnified(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mnt.Close() })
	return mnt
}

// TestCgroupGone checks what sweeps rely on, on this kernel: the handle
// name_to_handle_at gives a cgroup is FILEID_KERNFS with its id, and
// open_by_handle_at finds a live cgroup by it and fails with ESTALE once
// the cgroup was removed.
func TestCgroupGone(t *testing.T) {
	testutil.CheckLeaks(t)
	cg := testutil.TempCgroup(t)
	id, err := CgroupID(cg)
	if err != nil {
		t.Fatal(err)
	}
	mnt := openRoot(t)
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, cg, 0)
	if err != nil {
		t.Fatalf("name_to_handle_at %s: %v", cg, err)
	}
	var want [8]byte
	binary.NativeEndian.PutUint64(want[:], id)
	if h.Type() != fileIDKernfs || !slices.Equal(h.Bytes(), want[:]) {
		t.Fatalf("kernel's handle: type %#x %x, want %#x %x", h.Type(), h.Bytes(), fileIDKernfs, want)
	}
	if CgroupGone(int(mnt.Fd()), id) {
		t.Fatal("a live cgroup reads as gone")
	}
	if err := unix.Rmdir(cg); err != nil {
		t.Fatal(err)
	}
	_, err = unix.OpenByHandleAt(int(mnt.Fd()), unix.NewFileHandle(fileIDKernfs, want[:]), unix.O_PATH|unix.O_CLOEXEC)
	if !errors.Is(err, unix.ESTALE) {
		t.Fatalf("open_by_handle_at of a removed cgroup: %v, want ESTALE", err)
	}
	if !CgroupGone(int(mnt.Fd()), id) {
		t.Fatal("a removed cgroup does not read as gone")
	}
	// A directory off cgroup2 cannot tell: a handle it does not know
	// fails with another error, or ESTALE, which GoneIDs must not trust.
	plain, err := OpenCgroup(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if ok, err := OnCgroup2(plain); err != nil || ok {
		t.Fatalf("OnCgroup2(tmp dir) = %v, %v; want false", ok, err)
	}
	if ok, err := OnCgroup2(mnt); err != nil || !ok {
		t.Fatalf("OnCgroup2(cgroup2 root) = %v, %v; want true", ok, err)
	}
}

// GoneIDs lists exactly the pin directories of removed cgroups: not a
// live cgroup's, not a name that is no pin directory, and refuses to
// resolve ids off cgroup2.
func TestGoneIDs(t *testing.T) {
	testutil.RequireRoot(t)
	f := FS(t.TempDir())
	if _, err := f.Mount(); err != nil {
		testutil.Skip(t, "%v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(string(f), unix.MNT_DETACH) })
	mnt := openRoot(t)
	if ids, err := f.GoneIDs(mnt); err != nil || ids != nil {
		t.Fatalf("GoneIDs without a confine root = %v, %v; want none", ids, err)
	}
	live, gone := testutil.TempCgroup(t), testutil.TempCgroup(t)
	var ids [2]uint64
	for i, cg := range []string{live, gone} {
		id, err := CgroupID(cg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.EnsureDirForID(id); err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	if err := os.Mkdir(f.Root()+"/dev-0123", 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := f.GoneIDs(mnt); err != nil || len(got) != 0 {
		t.Fatalf("GoneIDs with live cgroups = %v, %v; want none", got, err)
	}
	if err := unix.Rmdir(gone); err != nil {
		t.Fatal(err)
	}
	if got, err := f.GoneIDs(mnt); err != nil || !slices.Equal(got, []uint64{ids[1]}) {
		t.Fatalf("GoneIDs = %v, %v; want [%d]", got, err, ids[1])
	}
	plain, err := OpenCgroup(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got, err := f.GoneIDs(plain); err == nil {
		t.Fatalf("GoneIDs resolving through a directory off cgroup2 = %v; want an error", got)
	}
}

// BenchmarkCgroupGone is what a sweep pays per pin directory (and a
// device attach per user of its program).
func BenchmarkCgroupGone(b *testing.B) {
	testutil.RequireRoot(b)
	cg := testutil.TempCgroup(b)
	id, err := CgroupID(cg)
	if err != nil {
		b.Fatal(err)
	}
	mnt := openRoot(b)
	for b.Loop() {
		if CgroupGone(int(mnt.Fd()), id) {
			b.Fatal("live cgroup reads as gone")
		}
	}
}
