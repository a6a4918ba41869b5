package cgroup

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/devfilter"
	"github.com/confinelab/confine/internal/testutil"
)

// hostBPFFS makes sure a BPF filesystem is mounted at /sys/fs/bpf, where
// device programs pin, mounting one for the test (and removing it after)
// where the host has none.
func hostBPFFS(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	mounted, err := MountBPFFS()
	if err != nil {
		testutil.Skip(t, "%v", err)
	}
	if mounted {
		t.Cleanup(func() {
			if err := unix.Unmount(bpfpin.FSRoot, unix.MNT_DETACH); err != nil {
				t.Errorf("unmounting the BPF filesystem the test mounted: %v", err)
			}
		})
	}
}

// uniqueRules allows /dev/null, denies /dev/zero, and names a device no
// other test or run uses, so that the shared program is this test's own.
func uniqueRules() []DeviceRule {
	return []DeviceRule{
		AllowDevice(CharDevice, 1, 3, DeviceRWM),
		DenyDevice(CharDevice, 1, 5, DeviceRWM),
		AllowDevice(CharDevice, 240, int64(rand.IntN(1<<20)), DeviceRead),
	}
}

// sharedDir is the pin directory of the shared program for rules.
func sharedDir(t *testing.T, rules []DeviceRule) string {
	t.Helper()
	code, err := devfilter.Encode(toFilter(rules))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bpfpin.Root, code.Name)
}

func attachedID(t *testing.T, c *Cgroup) ebpf.ProgramID {
	t.Helper()
	ids, err := devfilter.Attached(c.Path())
	if err != nil || len(ids) != 1 {
		t.Fatalf("%s: device programs %v (%v), want one", c.Path(), ids, err)
	}
	return ids[0]
}

// Cgroups with the same rules run one loaded program, which the kernel
// enforces in each; it stays while any of them does and goes with the
// last one, pins and all.
func TestDevicesSharedProgram(t *testing.T) { devicesShared(t) }

// TestVMDevicesSharedProgram is the same on a pure cgroup v2 host.
func TestVMDevicesSharedProgram(t *testing.T) {
	testutil.RequireVM(t)
	devicesShared(t)
}

func devicesShared(t *testing.T) {
	hostBPFFS(t)
	testutil.CheckLeaks(t)
	rules := uniqueRules()
	shared := sharedDir(t, rules)
	a, b, other := openTemp(t), openTemp(t), openTemp(t)
	for _, c := range []*Cgroup{a, b} {
		if err := c.applyDevices(rules); err != nil {
			t.Fatal(err)
		}
	}
	otherRules := append(uniqueRules(), DenyDevice(CharDevice, 1, 3, DeviceWrite))
	if err := other.applyDevices(otherRules); err != nil {
		t.Fatal(err)
	}
	idA, idB, idOther := attachedID(t, a), attachedID(t, b), attachedID(t, other)
	if idA != idB || idA == idOther {
		t.Fatalf("program ids: a %d, b %d, other rules %d; want a == b != other", idA, idB, idOther)
	}
	if _, err := os.Stat(filepath.Join(shared, "prog")); err != nil {
		t.Fatalf("shared program not pinned: %v", err)
	}
	if err := a.deleteDevices(); err != nil {
		t.Fatal(err)
	}
	// b still has the program, enforced, and the pin stays for the next.
	if got := runIn(t, b, "devopen", "/dev/null", "/dev/zero"); got != "0\n1" {
		t.Fatalf("b after a left: open results %q, want 0 and EPERM(1)", got)
	}
	if attachedID(t, b) != idA {
		t.Fatal("b's program changed when a left")
	}
	if _, err := os.Stat(filepath.Join(shared, "prog")); err != nil {
		t.Fatalf("shared program unpinned while b uses it: %v", err)
	}
	for _, c := range []*Cgroup{b, other} {
		if err := c.deleteDevices(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(shared); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("shared program directory left after its last user: %v", err)
	}
	for _, id := range []ebpf.ProgramID{idA, idOther} {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("program %d still loaded after its last user left", id)
		}
	}
}

// Concurrent users of one program starting and leaving in any order leave
// nothing behind, and every one of them is filtered while it lives.
func TestDevicesSharedConcurrent(t *testing.T) {
	hostBPFFS(t)
	testutil.CheckLeaks(t)
	rules := uniqueRules()
	parent := testutil.TempCgroup(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				path := filepath.Join(parent, fmt.Sprintf("w%d-%d", w, i))
				c, err := New(path, Resources{Devices: rules})
				if err != nil {
					errs <- err
					return
				}
				cmd := exec.Command(exe)
				cmd.Env = append(os.Environ(), testutil.EnvHelper+"=devopen", "GORACE=atexit_sleep_ms=0")
				cmd.Args = append(cmd.Args, "/dev/zero")
				cmd.SysProcAttr = childInto(c)
				out, err := cmd.Output()
				if got := strings.TrimSpace(string(out)); err != nil || got != "1" {
					errs <- fmt.Errorf("%s: open /dev/zero: %q, %v; want EPERM (1)", path, got, err)
				}
				if err := c.Delete(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := os.Stat(sharedDir(t, rules)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("shared program directory left: %v", err)
	}
}

// A cgroup removed without Delete leaves its device pins until
// SweepPins, which keeps a live cgroup's; the live one's Delete then
// frees the program.
func TestSweepPinsDevices(t *testing.T) {
	hostBPFFS(t)
	testutil.CheckLeaks(t)
	rules := uniqueRules()
	shared := sharedDir(t, rules)
	gone, live := openTemp(t), openTemp(t)
	for _, c := range []*Cgroup{gone, live} {
		if err := c.applyDevices(rules); err != nil {
			t.Fatal(err)
		}
	}
	prog := attachedID(t, gone)
	goneID, err := gone.pinID()
	if err != nil {
		t.Fatal(err)
	}
	liveID, err := live.pinID()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Rmdir(gone.Path()); err != nil {
		t.Fatal(err)
	}
	dirs, err := SweepPins()
	if err != nil || !slices.Contains(dirs, bpfpin.DirForID(goneID)) || slices.Contains(dirs, bpfpin.DirForID(liveID)) {
		t.Fatalf("SweepPins = %v, %v; want %s and not %s", dirs, err, bpfpin.DirForID(goneID), bpfpin.DirForID(liveID))
	}
	if _, err := os.Stat(bpfpin.DirForID(goneID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removed cgroup's pin directory left: %v", err)
	}
	users, err := os.ReadDir(shared)
	if err != nil || len(users) != 2 || users[0].Name() != fmt.Sprintf("cg-%d", liveID) || users[1].Name() != "prog" {
		t.Fatalf("shared program directory after the sweep: %v, %v; want the live cgroup and prog", users, err)
	}
	if err := live.deleteDevices(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shared); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("shared program directory left after its last user: %v", err)
	}
	if p, err := ebpf.NewProgramFromID(prog); err == nil {
		p.Close()
		t.Errorf("program %d still loaded", prog)
	}
}
