package namespace_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// sandboxNS are the namespaces of the sandboxes these tests enter.
var sandboxNS = namespace.Set{namespace.PID, namespace.NET, namespace.IPC, namespace.MNT, namespace.UTS, namespace.CGROUP}

// sandbox is a running sandbox to enter: its init (sleep, PID 1 of its
// own namespace) and the Sandbox opened from its pidfd.
type sandbox struct {
	init *namespace.Cmd
	sb   *namespace.Sandbox
	root string // the rootfs directory on the host
	cg   string // its cgroup directory on the host
}

// startSandbox starts `sleep 1000` in a busybox root with /proc, a minimal
// /dev and a tmpfs /tmp, in a test cgroup; mutate may change the Cmd. It
// is killed and reaped, and the Sandbox closed, when the test ends.
func startSandbox(t *testing.T, mutate func(*namespace.Cmd)) *sandbox {
	t.Helper()
	testutil.RequireRoot(t)
	root := testutil.BusyboxRoot(t, []string{"proc", "dev", "tmp", "etc"},
		"sh", "sleep", "cat", "ls", "readlink", "echo", "id", "mkdir", "grep", "tr", "pwd", "tty", "kill")
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	cg := testutil.TempCgroup(t)
	c := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "1000"}, Env: []string{"PATH=/bin"},
		Namespaces: sandboxNS, Hostname: "sandbox", CgroupPath: cg,
		Root: &mount.Root{Path: root, Mounts: []mount.Mount{mount.Proc("/proc"), mount.Dev("/dev"), mount.Tmpfs("/tmp", 1<<20, 0o1777, 0)}}}
	if mutate != nil {
		mutate(c)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	s := &sandbox{init: c, root: root, cg: cg}
	t.Cleanup(func() {
		_ = c.Signal(unix.SIGKILL)
		c.Wait()
		s.sb.Close()
	})
	sb, err := namespace.OpenSandbox(c.PidFD())
	if err != nil {
		t.Fatalf("OpenSandbox: %v", err)
	}
	s.sb = sb
	return s
}

// enter runs script in the sandbox and returns its stdout; it fails the
// test unless the command ran and exited 0.
func (s *sandbox) enter(t *testing.T, script string, mutate func(*namespace.Cmd)) string {
	t.Helper()
	c := &namespace.Cmd{Path: "sh", Args: sh(script), Env: []string{"PATH=/bin"}, Sandbox: s.sb}
	if mutate != nil {
		mutate(c)
	}
	return run(t, c)
}

// nsOf returns the namespace of kind k of process pid, as "net:[INODE]".
func nsOf(t *testing.T, pid int, k namespace.Kind) string {
	t.Helper()
	h, err := namespace.Open(pid, k)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	return h.String()
}

// The entered command is in every namespace of the sandbox, in its root
// and its cgroup, not PID 1, and a child of the caller.
func TestEnterJoinsEverything(t *testing.T) {
	s := startSandbox(t, nil)
	script := `echo pid $$; echo init $(cat /proc/1/cmdline | tr '\0' ' '); echo cgroup $(grep '^0::' /proc/self/cgroup)
echo root $(ls / | tr '\n' ,); echo cwd $(pwd); echo host $(cat /proc/sys/kernel/hostname)
for k in mnt pid net ipc uts cgroup; do echo ns_$k $(readlink /proc/self/ns/$k); done
echo ppid $PPID`
	var c *namespace.Cmd
	out := fields(s.enter(t, script, func(x *namespace.Cmd) { c = x }))
	want := map[string]string{
		"init": "sleep 1000", "cgroup": "0::/", "cwd": "/", "host": "sandbox",
		"root": "bin,dev,etc,proc,tmp,", "ppid": "0", // its parent is outside the namespace
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %q, want %q", k, out[k], v)
		}
	}
	if out["pid"] == "1" || out["pid"] == "" {
		t.Errorf("pid in the sandbox %q, want another than its init's 1", out["pid"])
	}
	for _, k := range []namespace.Kind{namespace.MNT, namespace.PID, namespace.NET, namespace.IPC, namespace.UTS, namespace.CGROUP} {
		if got, want := out["ns_"+k.ProcName()], nsOf(t, s.init.Pid(), k); got != want {
			t.Errorf("%s namespace %q, want the sandbox's %q", k, got, want)
		}
	}
	if st, err := c.Wait(); err != nil || st.Pid <= 0 {
		t.Errorf("Wait after Run: %+v, %v", st, err)
	}
}

// The command is born in the sandbox's cgroup, seen from the host too,
// and is this process's child (Wait reaps it, not a helper).
func TestEnterCgroupAndParent(t *testing.T) {
	s := startSandbox(t, nil)
	c := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "1000"}, Sandbox: s.sb, Env: []string{}}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	defer c.Signal(unix.SIGKILL)
	procs, err := os.ReadFile(filepath.Join(s.cg, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	if !slicesContain(strings.Fields(string(procs)), strconv.Itoa(c.Pid())) {
		t.Errorf("pid %d not in the sandbox's cgroup.procs %q", c.Pid(), procs)
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if got := statusFields(string(st))["PPid"]; got != strconv.Itoa(os.Getpid()) {
		t.Errorf("parent %s, want this process %d", got, os.Getpid())
	}
	if err := c.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	state, err := c.Wait()
	if err != nil || state.Signal != syscall.SIGTERM {
		t.Errorf("Wait: %+v, %v, want killed by SIGTERM", state, err)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var _ = bytes.NewBuffer
var _ = errors.New
