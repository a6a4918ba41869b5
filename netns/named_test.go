package netns_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/netns"
)

// runNetnsState counts the mounts below /run/netns and the entries whose
// name starts with prefix.
func runNetnsState(t *testing.T, prefix string) (mounts, files int) {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(netns.RunDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Mountpoint != netns.RunDir {
			mounts++
		}
	}
	names, err := netns.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			files++
		}
	}
	return mounts, files
}

func TestCreateDeleteLeaksNothing(t *testing.T) {
	testutil.RequireRoot(t)
	// One cycle first: the first Create may make /run/netns a mount point.
	name, _ := newNamed(t)
	cur := current(t)
	prefix := testName() + "-"
	mounts0, files0 := runNetnsState(t, prefix)
	testutil.CheckLeaks(t)

	const cycles = 200
	for i := 0; i < cycles; i++ {
		n := prefix + strconv.Itoa(i)
		h, err := netns.Create(n)
		if err != nil {
			t.Fatalf("cycle %d: Create(%q): %v", i, n, err)
		}
		if h.Equal(cur) {
			h.Close()
			netns.Delete(n)
			t.Fatalf("cycle %d: new namespace is the caller's", i)
		}
		closeErr := h.Close()
		if err := netns.Delete(n); err != nil {
			t.Fatalf("cycle %d: Delete(%q): %v", i, n, err)
		}
		if closeErr != nil {
			t.Fatalf("cycle %d: Close: %v", i, closeErr)
		}
	}
	mounts1, files1 := runNetnsState(t, prefix)
	if mounts1 != mounts0 || files1 != files0 {
		t.Fatalf("after %d cycles: %d mounts below %s (before %d), %d of our files (before %d)",
			cycles, mounts1, netns.RunDir, mounts0, files1, files0)
	}
	if _, err := os.Stat(filepath.Join(netns.RunDir, name)); err != nil {
		t.Fatalf("unrelated namespace %s vanished: %v", name, err)
	}
}

func TestCreatedNamespaceIsPersistentAndOpenable(t *testing.T) {
	name, h := newNamed(t)
	cur := current(t)
	if h.Equal(cur) {
		t.Fatal("Create returned the caller's namespace")
	}
	// The file is an nsfs bind mount of that very namespace.
	path := filepath.Join(netns.RunDir, name)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Ino != h.Inode() {
		t.Fatalf("%s has inode %d, handle %s", path, st.Ino, h)
	}
	mounted, err := mountinfo.Mounted(path)
	if err != nil || !mounted {
		t.Fatalf("%s not a mount point: %v %v", path, mounted, err)
	}
	// Closing our handle does not free it: the mount keeps it.
	h.Close()
	h2, err := netns.OpenName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if h2.Inode() != st.Ino {
		t.Fatalf("OpenName gives %s, want inode %d", h2, st.Ino)
	}
	h3, err := netns.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h3.Close()
	if !h3.Equal(h2) {
		t.Fatal("OpenPath and OpenName differ")
	}
	names, err := netns.List()
	if err != nil || !slices.Contains(names, name) {
		t.Fatalf("List() = %v, %v; want it to contain %q", names, err, name)
	}
	// iproute2's `ip netns` sees it too, when installed (busybox ip has
	// no netns command).
	if ip, err := lookIP(); err == nil && isIPRoute2(ip) {
		out, err := runCmd(ip, "netns", "list")
		if err != nil || !strings.Contains(out, name) {
			t.Fatalf("ip netns list: %q %v; want %q", out, err, name)
		}
	}
}

func TestRunDirIsSharedMount(t *testing.T) {
	newNamed(t)
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(netns.RunDir))
	if err != nil || len(ms) == 0 {
		t.Fatalf("%s is not a mount point: %v", netns.RunDir, err)
	}
	if !strings.Contains(ms[len(ms)-1].Optional, "shared:") {
		t.Fatalf("%s propagation %q, want shared", netns.RunDir, ms[len(ms)-1].Optional)
	}
}

func TestCreateExistingAndDeleteMissing(t *testing.T) {
	name, _ := newNamed(t)
	if _, err := netns.Create(name); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Create(%q) = %v, want ErrExist", name, err)
	}
	missing := testName()
	err := netns.Delete(missing)
	var oe *netns.StepError
	if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &oe) {
		t.Fatalf("Delete(%q) = %v, want *StepError matching ErrNotExist", missing, err)
	}
	if _, err := netns.OpenName(missing); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("OpenName(%q) = %v, want ENOENT", missing, err)
	}
}

func TestOpenPathRejectsOtherFiles(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, "/proc/self/ns/uts", "/proc/self/ns/mnt"} {
		h, err := netns.OpenPath(p)
		if !errors.Is(err, netns.ErrNotNetns) {
			h.Close()
			t.Errorf("OpenPath(%s) = %v, want ErrNotNetns", p, err)
		}
	}
}

// A stale file left in /run/netns (no mount on it) is still deleted.
func TestDeleteStaleFile(t *testing.T) {
	name, _ := newNamed(t) // ensures /run/netns exists; cleanup deletes it
	stale := name + "-stale"
	if err := os.WriteFile(filepath.Join(netns.RunDir, stale), nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := netns.Delete(stale); err != nil {
		t.Fatalf("Delete(stale) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(netns.RunDir, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale file still there: %v", err)
	}
}

// Without CAP_SYS_ADMIN over the mount namespace (a child in its own user
// namespace, root inside only) Create fails with an *StepError wrapping
// EPERM, and leaves no file behind.
func TestCreateUnprivilegedIsTypedEPERM(t *testing.T) {
	testutil.RequireRoot(t)
	name := testName()
	cmd := testutil.HelperCommand(t, "create", name)
	cmd.SysProcAttr = &unix.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != "EPERM" {
		t.Fatalf("unprivileged Create: %s", out)
	}
	if _, err := os.Lstat(filepath.Join(netns.RunDir, name)); !errors.Is(err, os.ErrNotExist) {
		netns.Delete(name)
		t.Fatalf("failed Create left %s/%s: %v", netns.RunDir, name, err)
	}
}

// Concurrent Create/Delete from many goroutines: every name works, and
// the mount table and /run/netns end as they started.
func TestCreateDeleteConcurrent(t *testing.T) {
	testutil.RequireRoot(t)
	newNamed(t)
	prefix := testName() + "-"
	mounts0, files0 := runNetnsState(t, prefix)
	runMounts0 := countMountsAt(t, netns.RunDir)
	testutil.CheckLeaks(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				n := prefix + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				h, err := netns.Create(n)
				if err != nil {
					t.Error(err)
					return
				}
				h.Close()
				if err := netns.Delete(n); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	mounts1, files1 := runNetnsState(t, prefix)
	if mounts1 != mounts0 || files1 != files0 {
		t.Fatalf("mounts below %s %d -> %d, our files %d -> %d", netns.RunDir, mounts0, mounts1, files0, files1)
	}
	if n := countMountsAt(t, netns.RunDir); n != runMounts0 {
		t.Fatalf("%s mounted %d times, was %d", netns.RunDir, n, runMounts0)
	}
}

func countMountsAt(t *testing.T, path string) int {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(path))
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// Delete removes the name, not the namespace: an open handle keeps it
// usable.
func TestDeleteKeepsNamespaceForHandles(t *testing.T) {
	testutil.RequireRoot(t)
	name := testName()
	h, err := netns.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Delete(name); err != nil {
		t.Fatal(err)
	}
	if _, err := netns.OpenName(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenName after Delete = %v, want ErrNotExist", err)
	}
	if err := netns.LoopbackUp(h); err != nil {
		t.Fatalf("LoopbackUp through a handle after Delete: %v", err)
	}
	if links := linkState(t, h); !links["lo"] {
		t.Fatalf("links %v, want lo up", links)
	}
}
