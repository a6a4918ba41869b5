package devfilter

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
	"github.com/confinelab/confine/internal/testutil"
)

const testLink = "devices"

// sweepRules allow /dev/null and deny everything else.
var sweepRules = []Rule{null}

// privateFS mounts a BPF filesystem of the test's own, so that its pins
// (and sweeps) never meet the host's; unmounting it drops what is left.
func privateFS(t *testing.T) bpfpin.FS {
	t.Helper()
	testutil.RequireRoot(t)
	fs := bpfpin.FS(t.TempDir())
	if _, err := fs.Mount(); err != nil {
		testutil.Skip(t, "%v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(string(fs), unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting the test's BPF filesystem: %v", err)
		}
	})
	return fs
}

// user is a cgroup attached to the shared program of sweepRules.
type user struct {
	path string
	id   uint64
	prog ebpf.ProgramID
}

// attachUser makes a cgroup and attaches code's shared program to it, and
// checks that the kernel enforces it there.
func attachUser(t *testing.T, fs bpfpin.FS, code *Code) user {
	t.Helper()
	cg := testutil.TempCgroup(t)
	id, err := bpfpin.CgroupID(cg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.EnsureDirForID(id); err != nil {
		t.Fatal(err)
	}
	if err := AttachShared(fs, cg, id, code, testLink); err != nil {
		t.Fatalf("AttachShared: %v", err)
	}
	ids, err := Attached(cg)
	if err != nil || len(ids) != 1 {
		t.Fatalf("%s: device programs %v (%v), want one", cg, ids, err)
	}
	if got := runAccess(t, cg, []string{"r:/dev/null", "r:/dev/zero"}); got[0] != "ok" || got[1] != "EPERM" {
		t.Fatalf("%s: /dev/null, /dev/zero: %v, want ok EPERM", cg, got)
	}
	return user{cg, id, ids[0]}
}

// abandon removes the cgroup as a harness does after SIGKILLing its
// manager: rmdir, without DetachShared. Its processes have exited
// (runAccess waits for them).
func abandon(t *testing.T, u user) {
	t.Helper()
	if err := unix.Rmdir(u.path); err != nil {
		t.Fatalf("rmdir %s: %v", u.path, err)
	}
}

// detachUser is what Delete does for the cgroup's devices.
func detachUser(t *testing.T, fs bpfpin.FS, u user) {
	t.Helper()
	if err := DetachShared(fs, u.path, u.id, testLink); err != nil {
		t.Error(err)
	}
	if err := fs.RemovePinDir(fs.DirForID(u.id)); err != nil {
		t.Error(err)
	}
}

// names lists dir (nil when it does not exist).
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// wantNames fails the test unless dir holds exactly want (nil: dir does
// not exist).
func wantNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := names(t, dir)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

// wantUnloaded fails the test while the kernel still has the program.
func wantUnloaded(t *testing.T, id ebpf.ProgramID) {
	t.Helper()
	p, err := ebpf.NewProgramFromID(id)
	if err == nil {
		p.Close()
		t.Errorf("program %d still loaded", id)
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("program %d: %v, want ENOENT", id, err)
	}
}

func encode(t *testing.T) *Code {
	t.Helper()
	code, err := Encode(sweepRules)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestKernelStaleSignals checks the signals of a gone cgroup on this
// kernel: it reads as gone (bpfpin.CgroupGone, whose own test checks the
// kernel's handles) as soon as it was removed, and a link's cgroup id, the
// sign the sweep does not rely on, turns 0 only some time after the rmdir.
func TestKernelStaleSignals(t *testing.T) {
	fs := privateFS(t)
	testutil.CheckLeaks(t)
	u := attachUser(t, fs, encode(t))
	mnt, err := bpfpin.OpenCgroup(testutil.RequireUnified(t))
	if err != nil {
		t.Fatal(err)
	}
	defer mnt.Close()
	if bpfpin.CgroupGone(int(mnt.Fd()), u.id) {
		t.Fatal("a live cgroup reads as gone")
	}
	l, err := link.LoadPinnedLink(filepath.Join(fs.DirForID(u.id), testLink), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	linkCgroup := func() uint64 {
		info, err := l.Info()
		if err != nil || info.Cgroup() == nil {
			t.Fatalf("link info: %+v, %v", info, err)
		}
		return info.Cgroup().CgroupId
	}
	if got := linkCgroup(); got != u.id {
		t.Fatalf("link's cgroup id %d, want %d", got, u.id)
	}

	abandon(t, u)
	if !bpfpin.CgroupGone(int(mnt.Fd()), u.id) {
		t.Fatal("a removed cgroup does not read as gone")
	}
	// The kernel releases the cgroup's BPF state from a work item.
	deadline := time.Now().Add(5 * time.Second)
	for linkCgroup() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := linkCgroup(); got != 0 {
		t.Fatalf("link's cgroup id %d 5 s after rmdir, want 0", got)
	}
}

// The next start with the same rules removes the pins a removed cgroup
// left (both its entry in the program's directory and its own pin
// directory), and the last live user's Delete then frees the program.
func TestSweepOnAttach(t *testing.T) {
	fs := privateFS(t)
	testutil.CheckLeaks(t)
	code := encode(t)
	shared := filepath.Join(fs.Root(), code.Name)
	a := attachUser(t, fs, code)
	abandon(t, a)
	b := attachUser(t, fs, code)
	if a.prog != b.prog {
		t.Fatalf("b runs program %d, a ran %d: not shared", b.prog, a.prog)
	}
	wantNames(t, shared, sharedProg, userName(b.id))
	wantNames(t, fs.DirForID(a.id))
	detachUser(t, fs, b)
	wantNames(t, fs.Root())
	wantUnloaded(t, a.prog)
}

// The last live user's release removes the stale users left beside it,
// and with them the program, which their pins kept loaded.
func TestSweepOnRelease(t *testing.T) {
	fs := privateFS(t)
	testutil.CheckLeaks(t)
	code := encode(t)
	a, b := attachUser(t, fs, code), attachUser(t, fs, code)
	abandon(t, a)
	detachUser(t, fs, b)
	wantNames(t, fs.Root())
	wantUnloaded(t, a.prog)
}

// A removed cgroup that a socket made in it still holds is dying: the
// kernel keeps its link attached (cgroup id set) until the socket goes,
// but it no longer resolves by id, and a sweep frees its pins and program
// at once.
func TestSweepDyingCgroup(t *testing.T) {
	fs := privateFS(t)
	testutil.CheckLeaks(t)
	u := attachUser(t, fs, encode(t))
	sock := testutil.SocketFrom(t, u.path)
	defer unix.Close(sock)
	abandon(t, u)
	l, err := link.LoadPinnedLink(filepath.Join(fs.DirForID(u.id), testLink), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // without the socket the release took 10-20 ms here
	info, err := l.Info()
	l.Close()
	if err != nil || info.Cgroup() == nil || info.Cgroup().CgroupId != u.id {
		t.Fatalf("link of a dying cgroup: %+v, %v; want still attached to %d", info.Cgroup(), err, u.id)
	}
	swept, err := Sweep(fs, testutil.RequireUnified(t), testLink)
	if err != nil || !slices.Equal(swept, []uint64{u.id}) {
		t.Fatalf("Sweep = %v, %v; want %d", swept, err, u.id)
	}
	wantNames(t, fs.Root())
	wantUnloaded(t, u.prog)
}

// Sweep, as `confine gc` runs it, cleans the whole pin tree of removed
// cgroups and frees their program.
func TestSweep(t *testing.T) {
	fs := privateFS(t)
	testutil.CheckLeaks(t)
	root := testutil.RequireUnified(t)
	code := encode(t)
	a, b := attachUser(t, fs, code), attachUser(t, fs, code)
	abandon(t, a)
	abandon(t, b)
	swept, err := Sweep(fs, root, testLink)
	slices.Sort(swept)
	if want := []uint64{min(a.id, b.id), max(a.id, b.id)}; err != nil || !slices.Equal(swept, want) {
		t.Fatalf("Sweep = %v, %v; want %v", swept, err, want)
	}
	wantNames(t, fs.Root())
	wantUnloaded(t, a.prog)
	if swept, err := Sweep(fs, root, testLink); err != nil || len(swept) != 0 {
		t.Fatalf("second Sweep = %v, %v; want nothing", swept, err)
	}
	if _, err := Sweep(fs, t.TempDir(), testLink); err == nil {
		t.Fatal("Sweep resolving ids through a directory off cgroup2: want an error")
	}
}

// A live user is never swept: not by Sweep, not by another cgroup's
// attach and release, not while cgroups are being created and attached
// alongside; it stays counted and filtered.
func TestSweepKeepsLiveUsers(t *testing.T) {
	fs := privateFS(t)
	testutil.CheckLeaks(t)
	root := testutil.RequireUnified(t)
	code := encode(t)
	shared := filepath.Join(fs.Root(), code.Name)
	live, gone := attachUser(t, fs, code), attachUser(t, fs, code)
	abandon(t, gone)
	swept, err := Sweep(fs, root, testLink)
	if err != nil || !slices.Equal(swept, []uint64{gone.id}) {
		t.Fatalf("Sweep = %v, %v; want only %d", swept, err, gone.id)
	}
	detachUser(t, fs, attachUser(t, fs, code))
	wantNames(t, shared, sharedProg, userName(live.id))
	wantNames(t, fs.DirForID(live.id), testLink, code.Name)

	// Sweeps race cgroups being made, attached and released.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if swept, err := Sweep(fs, root, testLink); err != nil || len(swept) != 0 {
				errs <- fmt.Errorf("Sweep among live cgroups = %v, %v", swept, err)
			}
		}
	}()
	for range 20 {
		u := attachUser(t, fs, code)
		if !slices.Contains(names(t, shared), userName(u.id)) {
			t.Errorf("%s: entry missing after AttachShared", u.path)
		}
		detachUser(t, fs, u)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantNames(t, shared, sharedProg, userName(live.id))
	if got := runAccess(t, live.path, []string{"r:/dev/null", "r:/dev/zero"}); got[0] != "ok" || got[1] != "EPERM" {
		t.Fatalf("live user after the sweeps: %v, want ok EPERM", got)
	}
	detachUser(t, fs, live)
	wantNames(t, fs.Root())
	wantUnloaded(t, live.prog)
}
