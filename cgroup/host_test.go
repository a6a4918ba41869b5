package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// hostParent returns a fresh parent cgroup for tier-2 tests, removed at
// cleanup. Its cgroup.controllers offers what the root delegates.
func hostParent(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireUnified(t)
	return testutil.TempCgroup(t)
}

func TestHostCreateOpenDelete(t *testing.T) {
	parent := hostParent(t)
	testutil.CheckLeaks(t)
	p := filepath.Join(parent, "a", "b")
	cg, err := New(p, Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	if cg.boundary != parent {
		t.Errorf("boundary %s, want %s", cg.boundary, parent)
	}
	if _, err := New(p, Resources{}); !errors.Is(err, os.ErrExist) {
		t.Errorf("New on existing: %v", err)
	}
	flags, err := unix.FcntlInt(uintptr(cg.FD()), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_PATH == 0 {
		t.Errorf("FD flags %#x, %v: want O_PATH", flags, err)
	}
	if fdf, _ := unix.FcntlInt(uintptr(cg.FD()), unix.F_GETFD, 0); fdf&unix.FD_CLOEXEC == 0 {
		t.Error("FD is not close-on-exec")
	}

	cmd := startSleeper(t)
	if err := cg.AddProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	opened, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()
	pids, err := opened.Processes()
	if err != nil || !slices.Equal(pids, []int{cmd.Process.Pid}) {
		t.Fatalf("Processes = %v, %v; want [%d]", pids, err, cmd.Process.Pid)
	}
	b, err := os.ReadFile(filepath.Join("/proc", itoa(uint64(cmd.Process.Pid)), "cgroup"))
	if err != nil || !strings.Contains(string(b), strings.TrimPrefix(p, UnifiedRoot(t))) {
		t.Errorf("/proc/PID/cgroup = %q, want it inside %s", b, p)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Delete: %v", p, err)
	}
	if err := cg.Close(); err != nil {
		t.Errorf("Close after Delete: %v", err)
	}
	if _, err := Open(p); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Open deleted: %v", err)
	}
}

func TestHostDeleteRemovesChildren(t *testing.T) {
	parent := hostParent(t)
	cg, err := New(filepath.Join(parent, "top"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"x", "x/y", "z"} {
		if err := os.Mkdir(filepath.Join(cg.Path(), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	if exists(cg.Path()) {
		t.Error("tree left behind")
	}
}

func TestHostMoveProcessesToLeaf(t *testing.T) {
	parent := hostParent(t)
	cg, err := New(filepath.Join(parent, "svc"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := startSleeper(t)
	if err := cg.AddProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	leaf, err := cg.MoveProcessesToLeaf("leaf")
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Close()
	if pids, _ := cg.Processes(); len(pids) != 0 {
		t.Errorf("parent still holds %v", pids)
	}
	if pids, _ := leaf.Processes(); !slices.Equal(pids, []int{cmd.Process.Pid}) {
		t.Errorf("leaf holds %v", pids)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestHostThreaded(t *testing.T) {
	parent := hostParent(t)
	dom, err := New(filepath.Join(parent, "dom"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Delete()
	thr, err := New(filepath.Join(dom.Path(), "thr"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer thr.Close()
	if err := thr.SetThreaded(); err != nil {
		t.Fatal(err)
	}
	cmd := startSleeper(t)
	if err := dom.AddProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// A thread can move into a threaded cgroup.
	if err := thr.AddThread(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	tids, err := thr.Threads()
	if err != nil || !slices.Contains(tids, cmd.Process.Pid) {
		t.Errorf("Threads = %v, %v", tids, err)
	}
	// A threaded cgroup does not list processes: typed, errno kept.
	_, err = thr.Processes()
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("Processes of threaded: %v, want ErrNotSupported wrapping EOPNOTSUPP", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func TestHostHugeTLBLimit(t *testing.T) {
	testutil.RequireRoot(t)
	hugeTLBLimit(t)
}

// TestVMHugeTLBLimit proves the same in the VM, whose memory always has
// room for one huge page: a host may have no huge page sizes or no free
// 2 MB of contiguous memory.
func TestVMHugeTLBLimit(t *testing.T) {
	testutil.RequireVM(t)
	hugeTLBLimit(t)
}

func hugeTLBLimit(t *testing.T) {
	testutil.RequireController(t, "hugetlb")
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	if len(h.HugePageSizes) == 0 {
		testutil.SkipHost(t, "TestVMHugeTLBLimit", "no huge page sizes in /sys/kernel/mm/hugepages")
	}
	size := h.HugePageSizes[0]
	// The boundary must offer hugetlb; the host root does, a fresh
	// TempCgroup does not until the root delegates it, so create directly
	// below the root and remove at cleanup.
	p := filepath.Join(h.Root, "confine-test-hugetlb-"+itoa(uint64(os.Getpid())))
	restoreRootHugeTLB(t, h.Root) // registered first: runs after the removal
	t.Cleanup(func() { _ = testutil.RemoveCgroupTree(p) })
	cg, err := New(p+"/leaf", Resources{HugeTLB: []HugeTLB{{PageSize: size, Max: 64 << 30}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	file := filepath.Join(cg.Path(), "hugetlb."+size+".max")
	if got := readTrim(t, file); got != "68719476736" {
		t.Errorf("%s = %s", file, got)
	}
	if err := cg.Apply(Resources{HugeTLB: []HugeTLB{{PageSize: size, Max: Zero}}}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, file); got != "0" {
		t.Errorf("%s = %s after Zero", file, got)
	}
	if err := cg.Apply(Resources{HugeTLB: []HugeTLB{{PageSize: size, Max: Unlimited}}}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, file); got != "max" {
		t.Errorf("%s = %s after Unlimited", file, got)
	}
	checkHugeTLBEnforced(t, cg)
}

// restoreRootHugeTLB disables hugetlb in the host root's
// cgroup.subtree_control at cleanup if it is not enabled now, so the test
// leaves the host as it found it. Another process's cgroup that enabled
// hugetlb meanwhile keeps it (EBUSY), which is only logged.
func restoreRootHugeTLB(t *testing.T, root string) {
	t.Helper()
	ctl := filepath.Join(root, "cgroup.subtree_control")
	b, err := os.ReadFile(ctl)
	if err != nil {
		t.Fatal(err)
	}
	if hasController(b, "hugetlb") {
		return
	}
	t.Cleanup(func() {
		err := os.WriteFile(ctl, []byte("-hugetlb"), 0)
		switch {
		case errors.Is(err, unix.EBUSY):
			t.Logf("hugetlb left enabled in %s: in use below it (%v)", ctl, err)
		case err != nil:
			t.Errorf("restoring %s: %v", ctl, err)
		}
	})
}

// checkHugeTLBEnforced has a child fault in one 2 MB huge page with the
// limit at 0 (the kernel must refuse it) and at 2 MB (it must succeed).
// It reserves one huge page in the pool for the test and restores the
// pool size afterwards.
func checkHugeTLBEnforced(t *testing.T, cg *Cgroup) {
	const pool = "/proc/sys/vm/nr_hugepages"
	old := readTrim(t, pool)
	if old == "0" {
		if err := os.WriteFile(pool, []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.WriteFile(pool, []byte(old), 0) })
		if readTrim(t, pool) == "0" {
			testutil.SkipHost(t, "TestVMHugeTLBLimit", "no memory for one 2 MB huge page")
		}
	}
	run := func(limit int64) error {
		if err := cg.Apply(Resources{HugeTLB: []HugeTLB{{PageSize: "2MB", Max: limit}}}); err != nil {
			t.Fatal(err)
		}
		cmd := testutil.HelperCommand(t, "hugetouch")
		cmd.SysProcAttr = sysProcIn(cg)
		return cmd.Run()
	}
	var ee *exec.ExitError
	if err := run(Zero); !errors.As(err, &ee) || (ee.ExitCode() != 3 && ee.ExitCode() != 4) {
		t.Errorf("huge page with hugetlb.2MB.max = 0: %v, want refused (exit 3 or 4)", err)
	}
	if err := run(2 << 20); err != nil {
		t.Errorf("one huge page under a 2 MB limit: %v", err)
	}
}

func init() {
	testutil.RegisterHelper("hugetouch", func([]string) int {
		b, err := unix.Mmap(-1, 0, 2<<20, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_HUGETLB)
		if err != nil {
			return 4 // refused at mmap (reservation limit)
		}
		debug.SetPanicOnFault(true)
		defer func() {
			if recover() != nil {
				os.Exit(3) // SIGBUS at fault time (usage limit)
			}
		}()
		b[0] = 1
		return 0
	})
}

func TestHostV1BoundMemoryWritesNothing(t *testing.T) {
	parent := hostParent(t)
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	if _, bound := h.V1["memory"]; !bound {
		t.Skip("memory is not bound to cgroup v1 here (pure v2 host)")
	}
	p := filepath.Join(parent, "mem")
	_, err = New(p, Resources{Memory: &Memory{Max: 64 << 20}})
	var v1 *V1BoundError
	if !errors.As(err, &v1) || v1.Controller != "memory" || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("New: %v, want *V1BoundError for memory", err)
	}
	if exists(p) {
		t.Error("New made a directory before failing")
	}
	before, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	cg, err := Open(parent)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	err = cg.Apply(Resources{Pids: &Pids{Max: 5}, CPU: &CPU{Weight: 10}})
	if !errors.As(err, &v1) || v1.Controller != "cpu" {
		t.Errorf("Apply: %v, want *V1BoundError for cpu", err)
	}
	after, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if string(before) != string(after) {
		t.Errorf("subtree_control changed %q -> %q", before, after)
	}
}

func UnifiedRoot(t *testing.T) string {
	t.Helper()
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	return h.Root
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// startSleeper starts a child that sleeps in the caller's cgroup (tests move
// it with AddProcess), and kills and reaps it at cleanup.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := testutil.HelperCommand(t, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}
