package vmtest_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// TestVMControllers proves the VM is a pure cgroup v2 host with every
// controller the library needs offered and enabled at the root.
func TestVMControllers(t *testing.T) {
	testutil.RequireVM(t)
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("/sys/fs/cgroup is not cgroup2 (statfs type %#x, err %v)", st.Type, err)
	}
	for _, file := range []string{"cgroup.controllers", "cgroup.subtree_control"} {
		b, err := os.ReadFile("/sys/fs/cgroup/" + file)
		if err != nil {
			t.Fatal(err)
		}
		have := strings.Fields(string(b))
		for _, c := range []string{"cpu", "memory", "io", "pids", "cpuset", "hugetlb"} {
			if !slices.Contains(have, c) {
				t.Errorf("%s lacks %q (has %q)", file, c, have)
			}
		}
	}
}

// TestVMBed proves the rest of what the bed promises: bpffs mounted, the
// modules loaded, busybox applets at /bin, loopback up.
func TestVMBed(t *testing.T) {
	testutil.RequireVM(t)
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		t.Errorf("/sys/fs/bpf is not bpffs (statfs type %#x, err %v)", st.Type, err)
	}
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"veth", "loop", "sch_fq", "null_blk"} {
		if !bytes.Contains(mods, []byte(m+" ")) {
			t.Errorf("module %s not loaded; /proc/modules:\n%s", m, mods)
		}
	}
	out, err := exec.Command("sh", "-c", "modprobe dummy && ip link add vmtest0 type dummy && ip link del vmtest0 && echo ok").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("modprobe dummy + ip link via busybox: %v: %s", err, out)
	}
	b, err := os.ReadFile("/sys/class/net/lo/operstate")
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(string(b)); s != "unknown" && s != "up" {
		t.Errorf("lo operstate %q, want up", s)
	}
}

// TestVMOOMKill proves a memory limit is enforced end to end: a child
// allocating 128 MiB in a cgroup with memory.max=32M is OOM-killed, and the
// cgroup's memory.events counts it. The cgroup is made with plain file
// writes so the test bed does not depend on the library it tests.
func TestVMOOMKill(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	dir := rawCgroup(t, map[string]string{"memory.max": "32M", "memory.swap.max": "0"})
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	cmd := testutil.HelperCommand(t, "alloc", "128")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	// Born in the cgroup (clone3 CLONE_INTO_CGROUP): nothing is charged elsewhere.
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child allocating 128 MiB under memory.max=32M: want it killed, got err=%v stdout=%q", err, stdout.String())
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL from the OOM killer", ws)
	}
	if strings.Contains(stdout.String(), "done") {
		t.Fatal("child finished its allocation despite the limit")
	}
	events := readKV(t, filepath.Join(dir, "memory.events"))
	if events["oom_kill"] != "1" {
		t.Fatalf("memory.events oom_kill = %q, want 1 (events %v)", events["oom_kill"], events)
	}
}

// rawCgroup makes a child of the root cgroup and writes files into it; the
// cgroup is removed at cleanup, once its processes are gone.
func rawCgroup(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join("/sys/fs/cgroup", fmt.Sprintf("vmtest-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		for i := 0; i < 50; i++ {
			if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(20 * time.Millisecond) // the killed child may still be exiting
		}
		t.Errorf("removing cgroup %s: %v", dir, err)
	})
	for name, val := range files {
		err := os.WriteFile(filepath.Join(dir, name), []byte(val), 0)
		if errors.Is(err, os.ErrNotExist) && name == "memory.swap.max" {
			continue // no swap accounting: nothing to turn off
		}
		if err != nil {
			t.Fatalf("writing %s=%s: %v", name, val, err)
		}
	}
	return dir
}

// readKV parses a flat-keyed cgroup file ("key value" lines).
func readKV(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			kv[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestHostNamespacesDiffer (tier 2) starts a child in new PID, NET, IPC,
// MNT and UTS namespaces and checks that each of its namespaces differs from
// ours, while the user namespace, which it does not leave, stays the same.
func TestHostNamespacesDiffer(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := testutil.HelperCommand(t, "nsinodes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
		syscall.CLONE_NEWIPC | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child in new namespaces: %v", err)
	}
	child := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			child[k] = v
		}
	}
	for _, k := range append(namespaceKinds, "user") {
		mine, err := os.Readlink("/proc/self/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		theirs := child[k]
		if !strings.HasPrefix(theirs, k+":[") {
			t.Errorf("child's %s namespace link %q is malformed", k, theirs)
			continue
		}
		if k == "user" {
			if theirs != mine {
				t.Errorf("user namespace changed (%s vs %s) though the child did not ask", theirs, mine)
			}
			continue
		}
		if theirs == mine {
			t.Errorf("child's %s namespace %s is the parent's", k, theirs)
		}
	}
}
