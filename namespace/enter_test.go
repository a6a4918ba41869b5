package namespace_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

func init() { testutil.RegisterHelper("enterparent", helperEnterParent) }

// helperSandbox opens the sandbox of the pid in arg for a helper process,
// printing "error ..." when it cannot.
func helperSandbox(arg string) (*namespace.Sandbox, bool) {
	pid, _ := strconv.Atoi(arg)
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		fmt.Println("error", err)
		return nil, false
	}
	sb, err := namespace.OpenSandbox(pidfd)
	if err != nil {
		fmt.Println("error", err)
		return nil, false
	}
	return sb, true
}

// helperEnterParent enters the sandbox of pid args[0] with a sleep that has
// Pdeathsig SIGKILL, prints the sleep's pid and waits to be killed.
func helperEnterParent(args []string) int {
	sb, ok := helperSandbox(args[0])
	if !ok {
		return 1
	}
	c := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "600"}, Pdeathsig: unix.SIGKILL, Sandbox: sb,
		Env: []string{}, Credential: &namespace.Credential{UID: 1000, GID: 1000}}
	if err := c.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(c.Pid())
	select {}
}

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
func startSandbox(t testing.TB, mutate func(*namespace.Cmd)) *sandbox {
	t.Helper()
	testutil.RequireRoot(t)
	root := testutil.BusyboxRoot(t, []string{"proc", "dev", "tmp", "etc"},
		"sh", "true", "sleep", "cat", "ls", "readlink", "echo", "id", "mkdir", "grep", "tr", "pwd", "tty", "kill", "dd")
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	// Traversable for a mapped root (a sandbox with a USER namespace).
	for d := filepath.Dir(root); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
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

// The command's own process: user, groups, the five capability sets,
// no_new_privs, limits (the sandbox process's, Rlimits on top), umask,
// directory and environment.
func TestEnterCredentials(t *testing.T) {
	s := startSandbox(t, func(c *namespace.Cmd) {
		c.Rlimits = []namespace.Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 512, Max: 1024}, {Resource: unix.RLIMIT_NPROC, Cur: 900, Max: 1000}}
	})
	keep := namespace.NewCapSet(0 /* CAP_CHOWN */, namespace.CapNetAdmin)
	hex := fmt.Sprintf("%016x", uint64(keep))
	out := s.enter(t, "cat /proc/self/status; echo Umask2: $(umask); echo Cwd: $(pwd); echo Env: $FOO; "+
		"echo NoFile: $(ulimit -n); echo NProc: $(ulimit -u)", func(c *namespace.Cmd) {
		c.Credential = &namespace.Credential{UID: 1000, GID: 1001, Groups: []uint32{1002, 1003}}
		c.Capabilities = &namespace.Capabilities{Bounding: keep, Effective: keep, Permitted: keep, Inheritable: keep, Ambient: keep}
		c.NoNewPrivileges = true
		c.Dir = "/tmp"
		c.Env = append(c.Env, "FOO=bar")
		c.Rlimits = []namespace.Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 256, Max: 1024}}
	})
	st := statusFields(out)
	want := map[string]string{
		"Uid": "1000\t1000\t1000\t1000", "Gid": "1001\t1001\t1001\t1001", "Groups": "1002 1003",
		"CapEff": hex, "CapPrm": hex, "CapInh": hex, "CapAmb": hex, "CapBnd": hex, "NoNewPrivs": "1",
		"Cwd": "/tmp", "Env": "bar", "NoFile": "256", "NProc": "900",
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s = %q, want %q", k, st[k], v)
		}
	}
	// User by name, from the sandbox's /etc/passwd.
	out = s.enter(t, "id -u; id -g", func(c *namespace.Cmd) { c.Credential = &namespace.Credential{User: "nobody"} })
	if out != "65534\n65534\n" {
		t.Errorf("user nobody: %q", out)
	}
}

// The sandbox's seccomp filter binds the command; without CAP_SYS_ADMIN
// it needs no_new_privs, which is then set.
func TestEnterSeccomp(t *testing.T) {
	s := startSandbox(t, nil)
	for _, tc := range []struct {
		name    string
		cred    *namespace.Credential
		wantNNP string
	}{{"root", nil, "0"}, {"uid1000", &namespace.Credential{UID: 1000, GID: 1000}, "1"}} {
		t.Run(tc.name, func(t *testing.T) {
			out := fields(s.enter(t, "mkdir /tmp/x-$$ 2>/dev/null && echo mkdir ok || echo mkdir denied; "+
				"grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t' | tr ':' ' '", func(c *namespace.Cmd) {
				c.Seccomp, c.Credential = denyMkdir(), tc.cred
			}))
			if out["Seccomp"] != "2" || out["NoNewPrivs"] != tc.wantNNP || out["mkdir"] != "denied" {
				t.Errorf("got %v, want Seccomp 2, NoNewPrivs %s, mkdir denied", out, tc.wantNNP)
			}
		})
	}
	// Without the filter the same mkdir works: the filter refused it.
	if out := fields(s.enter(t, "mkdir /tmp/y && echo mkdir ok", nil)); out["mkdir"] != "ok" {
		t.Errorf("mkdir without the filter: %v", out)
	}
	enterAllowNewPrivs(t, s)
}

// enterAllowNewPrivs: with AllowNewPrivileges the entered command's
// filter is loaded without no_new_privs (CAP_SYS_ADMIN held until then),
// and the command ends up with its own capabilities only; a filter that
// denies the capset doing the drop fails the start instead.
func enterAllowNewPrivs(t *testing.T, s *sandbox) {
	t.Helper()
	keep := namespace.NewCapSet(0 /* CAP_CHOWN */, namespace.CapNetAdmin)
	hex := fmt.Sprintf("%016x", uint64(keep))
	st := statusFields(s.enter(t, "cat /proc/self/status; mkdir /tmp/x-$$ 2>/dev/null && echo Mkdir: ok || echo Mkdir: denied", func(c *namespace.Cmd) {
		c.Credential = &namespace.Credential{UID: 1000, GID: 1001}
		c.Capabilities = &namespace.Capabilities{Bounding: keep, Effective: keep, Permitted: keep, Inheritable: keep, Ambient: keep}
		c.Seccomp, c.AllowNewPrivileges = denyMkdir(), true
	}))
	for k, v := range map[string]string{"Uid": "1000\t1000\t1000\t1000", "CapEff": hex, "CapPrm": hex, "CapInh": hex,
		"CapAmb": hex, "CapBnd": hex, "NoNewPrivs": "0", "Seccomp": "2", "Mkdir": "denied"} {
		if st[k] != v {
			t.Errorf("AllowNewPrivileges: %s = %q, want %q", k, st[k], v)
		}
	}
	c := &namespace.Cmd{Path: "/bin/true", Sandbox: s.sb, Env: []string{},
		Capabilities: &namespace.Capabilities{Bounding: keep, Effective: keep, Permitted: keep},
		Seccomp:      deny(unix.SYS_CAPSET), AllowNewPrivileges: true}
	st2, err := c.Run()
	var se *namespace.StepError
	if !errors.As(err, &se) || se.Step != namespace.StepSeccomp || !errors.Is(err, unix.EPERM) {
		t.Errorf("filter denying capset: status %+v, err %v; want a seccomp StepError with EPERM", st2, err)
	}
}

// A sandbox with USER and TIME namespaces of its own: the command joins
// both (which a multithreaded Go process cannot do itself), and its ids
// are the sandbox's.
func TestEnterUserAndTimeNamespaces(t *testing.T) {
	s := startSandbox(t, func(c *namespace.Cmd) {
		c.Namespaces = append(c.Namespaces, namespace.USER, namespace.TIME)
		c.UIDMappings = []namespace.IDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}
		c.GIDMappings = []namespace.IDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}
	})
	if k := s.sb.Kinds(); !k.Has(namespace.USER) || !k.Has(namespace.TIME) {
		t.Fatalf("Sandbox kinds %v, want USER and TIME among them", k)
	}
	out := fields(s.enter(t, "echo uid $(id -u); echo map $(cat /proc/self/uid_map); echo ns_user $(readlink /proc/self/ns/user); echo ns_time $(readlink /proc/self/ns/time)",
		func(c *namespace.Cmd) { c.Credential = &namespace.Credential{UID: 0, GID: 0} }))
	if out["uid"] != "0" || out["map"] != "0 100000 65536" {
		t.Errorf("uid %q map %q, want 0 and the sandbox's mapping", out["uid"], out["map"])
	}
	for _, k := range []namespace.Kind{namespace.USER, namespace.TIME} {
		if got, want := out["ns_"+k.ProcName()], nsOf(t, s.init.Pid(), k); got != want {
			t.Errorf("%s namespace %q, want the sandbox's %q", k, got, want)
		}
	}
	// The command sets its own credentials, capabilities, limits and
	// filter after joining (the init cannot drop them for it, as it can
	// for a sandbox without these namespaces): the same checks as there.
	keep := namespace.NewCapSet(0 /* CAP_CHOWN */, namespace.CapNetAdmin)
	hex := fmt.Sprintf("%016x", uint64(keep))
	st := statusFields(s.enter(t, "cat /proc/self/status; echo NoFile: $(ulimit -n); "+
		"mkdir /tmp/x-$$ 2>/dev/null && echo Mkdir: ok || echo Mkdir: denied", func(c *namespace.Cmd) {
		c.Credential = &namespace.Credential{UID: 1000, GID: 1001, Groups: []uint32{1002}}
		c.Capabilities = &namespace.Capabilities{Bounding: keep, Effective: keep, Permitted: keep, Inheritable: keep, Ambient: keep}
		c.Rlimits = []namespace.Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 256, Max: 1024}}
		c.Seccomp = denyMkdir()
	}))
	for k, v := range map[string]string{"Uid": "1000\t1000\t1000\t1000", "Gid": "1001\t1001\t1001\t1001", "Groups": "1002",
		"CapEff": hex, "CapPrm": hex, "CapInh": hex, "CapAmb": hex, "CapBnd": hex, "NoNewPrivs": "1", "Seccomp": "2",
		"NoFile": "256", "Mkdir": "denied"} {
		if st[k] != v {
			t.Errorf("%s = %q, want %q", k, st[k], v)
		}
	}
	if out := s.enter(t, "mkdir /tmp/y-$$ && echo ok", func(c *namespace.Cmd) {
		c.Credential = &namespace.Credential{UID: 1000, GID: 1001}
	}); out != "ok\n" {
		t.Errorf("the same mkdir without the filter: %q", out)
	}
	// The child drops its privileges itself here: AllowNewPrivileges too.
	enterAllowNewPrivs(t, s)
	// Seen from the host, its root is the mapped uid 100000.
	c := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "1000"}, Sandbox: s.sb, Env: []string{},
		Credential: &namespace.Credential{UID: 0, GID: 0}}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	defer c.Signal(unix.SIGKILL)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if uid := statusFields(string(b))["Uid"]; uid != "100000\t100000\t100000\t100000" {
		t.Errorf("host uid of the command: %q, want 100000", uid)
	}
}

// With a Console the terminal is made inside the sandbox (its devpts) and
// is the command's controlling terminal.
func TestEnterConsole(t *testing.T) {
	s := startSandbox(t, nil)
	child, parent, err := namespace.ConsolePair()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	defer parent.Close()
	c := &namespace.Cmd{Path: "sh", Args: sh("tty; cat /proc/self/stat"), Env: []string{"PATH=/bin"}, Sandbox: s.sb, Console: child}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	master, err := namespace.ReceiveConsole(parent)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	out, _ := io.ReadAll(master) // EIO once the command's side closed
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("command: %+v, %v; output %q", st, err, out)
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(out), "\r", "")), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "/dev/pts/") {
		t.Fatalf("terminal inside: %q, want /dev/pts/N of the sandbox", out)
	}
	// tty_nr (field 7) is the pts device: a controlling terminal.
	if f := strings.Fields(lines[1]); len(f) < 7 || f[6] == "0" {
		t.Errorf("no controlling terminal: stat %q", lines[1])
	}
}

// With TTY (a pty of the caller) the command's session gets it as its
// controlling terminal, though the init was started without one.
func TestEnterTTY(t *testing.T) {
	s := startSandbox(t, nil)
	master, slave, err := namespace.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	c := &namespace.Cmd{Path: "/bin/cat", Args: []string{"cat", "/proc/self/stat"}, Env: []string{}, Sandbox: s.sb, TTY: slave, Stdout: slave}
	err = c.Start()
	slave.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(master)
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(out)); len(f) < 7 || f[6] != strconv.FormatUint(st.Rdev, 10) {
		t.Errorf("stat %q: want tty_nr %d, the pty", out, st.Rdev)
	}
}

// A sandbox whose process has exited: OpenSandbox and Start say so with
// an error matching os.ErrProcessDone; a frozen one with ErrSandboxFrozen.
// Neither waits.
func TestEnterExitedOrFrozen(t *testing.T) {
	s := startSandbox(t, nil)
	if err := os.WriteFile(filepath.Join(s.cg, "cgroup.freeze"), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	// Bounded: a regression would otherwise wait for the frozen init.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &namespace.Cmd{Path: "/bin/true", Sandbox: s.sb}
	if err := c.StartContext(ctx); !errors.Is(err, namespace.ErrSandboxFrozen) {
		t.Errorf("Start in a frozen sandbox: %v, want ErrSandboxFrozen", err)
	}
	if err := os.WriteFile(filepath.Join(s.cg, "cgroup.freeze"), []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	s.enter(t, "true", nil) // thawed: works again

	pidfd := s.init.PidFD()
	keep, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(keep)
	_ = s.init.Signal(unix.SIGKILL)
	if _, err := s.init.Wait(); err != nil {
		t.Fatal(err)
	}
	c = &namespace.Cmd{Path: "/bin/true", Sandbox: s.sb} // its handles still open
	var se *namespace.StepError
	if err := c.Start(); !errors.Is(err, os.ErrProcessDone) || !errors.As(err, &se) {
		t.Errorf("Start in an exited sandbox: %v, want a *StepError matching os.ErrProcessDone", err)
	}
	if _, err := namespace.OpenSandbox(keep); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("OpenSandbox of an exited process: %v, want os.ErrProcessDone", err)
	}
	// The init exits after Start's check: the fork into its PID namespace
	// fails, and says why.
	live := startSandbox(t, nil)
	pidns := live.sb.Kinds()
	namespace.ReplaceNamespace(live.sb, s.sb, namespace.PID)
	c = &namespace.Cmd{Path: "/bin/true", Sandbox: live.sb}
	if err := c.Start(); !pidns.Has(namespace.PID) || !errors.Is(err, os.ErrProcessDone) || !errors.As(err, &se) || se.Step != namespace.StepJoin {
		t.Errorf("fork into a dead PID namespace: %v, want a join *StepError matching os.ErrProcessDone", err)
	}
}

// A command that is not there, or not executable: the *StepError of
// Cmd.Start's own exec, and nothing left behind (no child, no fd).
func TestEnterExecFailures(t *testing.T) {
	s := startSandbox(t, nil)
	checkLeaks(t)
	err := (&namespace.Cmd{Path: "nosuch", Sandbox: s.sb, Env: []string{"PATH=/bin"}}).Start()
	var se *namespace.StepError
	if !errors.As(err, &se) || se.Step != namespace.StepExec || !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing command: %v, want an exec *StepError matching ENOENT", err)
	}
	// /etc/passwd exists but is not executable: execve itself fails, in
	// the forked command, which the caller then reaps.
	err = (&namespace.Cmd{Path: "/etc/passwd", Sandbox: s.sb}).Start()
	var pe *os.PathError
	if !errors.As(err, &se) || se.Step != namespace.StepExec || !errors.Is(err, unix.EACCES) || !errors.As(err, &pe) || pe.Op != "execve" {
		t.Errorf("not executable: %v, want an exec *StepError with execve's EACCES", err)
	}
	if kids := children(t); kids != strconv.Itoa(s.init.Pid()) {
		t.Errorf("children left: %q, want only the sandbox's init %d", kids, s.init.Pid())
	}
}

// Fields that make or join namespaces are refused with a Sandbox, and a
// closed Sandbox is refused, before anything starts.
func TestEnterInvalid(t *testing.T) {
	s := startSandbox(t, nil)
	for field, c := range map[string]*namespace.Cmd{
		"Namespaces": {Namespaces: namespace.Set{namespace.NET}},
		"Root":       {Root: &mount.Root{Path: s.root}},
		"Hostname":   {Hostname: "x"},
	} {
		c.Path, c.Sandbox = "/bin/true", s.sb
		var ie *namespace.InvalidError
		if err := c.Start(); !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s with a Sandbox: %v, want an *InvalidError naming it", field, err)
		}
	}
	closed, err := namespace.OpenSandbox(s.init.PidFD())
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	closed.Close() // idempotent
	var ie *namespace.InvalidError
	if err := (&namespace.Cmd{Path: "/bin/true", Sandbox: closed}).Start(); !errors.As(err, &ie) || ie.Field != "Sandbox" {
		t.Errorf("closed Sandbox: %v", err)
	}
	if _, err := namespace.OpenSandbox(0); !errors.As(err, &ie) {
		t.Errorf("OpenSandbox(stdin): %v, want *InvalidError (not a pidfd)", err)
	}
}

// Nothing of the caller is visible in the sandbox while a command is set
// up: the init that prepares it stays in the caller's PID namespace, and
// the forked command, already in the sandbox, is not dumpable until it
// execs, so another process of the sandbox with the same uid and
// capabilities cannot open its /proc files (its fds, root, environment),
// while it can those of a process that has exec'd.
func TestEnterNotVisibleNorDumpable(t *testing.T) {
	s := startSandbox(t, nil)
	caps := namespace.OnlyCaps(0, 1, 3, 5, 6, 7) // chown, dac_override, fowner, kill, setgid, setuid
	peer := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "1000"}, Sandbox: s.sb, Capabilities: caps, Env: []string{}}
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	defer peer.Wait()
	defer peer.Signal(unix.SIGKILL)

	holdR, holdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer holdR.Close()
	defer holdW.Close()
	held := &namespace.Cmd{Path: "/bin/true", Sandbox: s.sb, Capabilities: caps, Env: []string{}}
	namespace.SetTestHold(held, holdR)
	started := make(chan error, 1)
	go func() { started <- held.Start() }()

	sandboxPID := nsOf(t, s.init.Pid(), namespace.PID)
	var child, init int
	waitForCond(t, "the held command", func() bool {
		child, init = 0, 0
		b, _ := os.ReadFile(filepath.Join(s.cg, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			if pid == s.init.Pid() || pid == peer.Pid() || cmdlineOf(pid) != "confine-init" {
				continue
			}
			if h, err := namespace.Open(pid, namespace.PID); err == nil {
				if h.String() == sandboxPID {
					child = pid
				} else {
					init = pid
				}
				h.Close()
			}
		}
		return child > 0
	})
	if init == 0 {
		t.Fatal("the held command's init is not in the sandbox's cgroup")
	}
	if nsOf(t, init, namespace.PID) == sandboxPID {
		t.Errorf("the init %d is in the sandbox's PID namespace", init)
	}
	// The init dropped to the command's capabilities before the fork: the
	// command was never in the sandbox with more.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(init) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statusFields(string(b))["CapEff"], fmt.Sprintf("%016x", uint64(caps.Effective)); got != want {
		t.Errorf("the init's capabilities at the fork: %s, want the command's %s", got, want)
	}
	inner := func(pid int) string {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		f := strings.Fields(statusFields(string(b))["NSpid"])
		return f[len(f)-1]
	}
	script := `for p in ` + inner(child) + ` ` + inner(peer.Pid()) + `; do
  cat /proc/$p/environ >/dev/null 2>&1 && echo environ_$p open || echo environ_$p denied
  ls /proc/$p/root/ >/dev/null 2>&1 && echo root_$p open || echo root_$p denied
  readlink /proc/$p/fd/1 >/dev/null 2>&1 && echo fd_$p open || echo fd_$p denied
done
echo visible $(for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\0' ' '; echo -n ,; done)`
	out := fields(s.enter(t, script, func(c *namespace.Cmd) { c.Capabilities = caps }))
	for _, what := range []string{"environ", "root", "fd"} {
		if got := out[what+"_"+inner(child)]; got != "denied" {
			t.Errorf("%s of the command before exec: %q, want denied", what, got)
		}
		if got := out[what+"_"+inner(peer.Pid())]; got != "open" {
			t.Errorf("%s of an exec'd peer with the same credentials: %q, want open (the check can fail)", what, got)
		}
	}
	if n := strings.Count(out["visible"], "confine-init"); n != 1 {
		t.Errorf("processes in the sandbox: %q, want exactly one confine-init (the held command, not its init)", out["visible"])
	}
	holdW.Write([]byte{0})
	if err := <-started; err != nil {
		t.Fatalf("Start after the hold: %v", err)
	}
	if st, err := held.Wait(); err != nil || !st.Success() {
		t.Errorf("held command: %+v, %v", st, err)
	}
}

// An entered command with Pdeathsig dies with the process that started it,
// though its parent is that process only through CLONE_PARENT and it
// changed credentials.
func TestEnterPdeathsig(t *testing.T) {
	s := startSandbox(t, nil)
	parent := testutil.HelperCommand(t, "enterparent", strconv.Itoa(s.init.Pid()))
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = parent.Process.Kill()
		_ = parent.Wait()
		t.Fatalf("helper: %q", line)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	if got := cmdlineOf(pid); got != "sleep 600" {
		t.Fatalf("helper's command %d is %q", pid, got)
	}
	_ = parent.Process.Kill()
	_ = parent.Wait()
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, int((30 * time.Second).Milliseconds())); err != nil || n != 1 {
		_ = unix.Kill(pid, unix.SIGKILL)
		t.Fatalf("the entered sleep (pid %d) outlived the process that started it (%v)", pid, err)
	}
}

// Start and Wait of entered commands leave no fd, goroutine or child
// behind, and Detach releases one that keeps running.
func TestEnterNoLeaks(t *testing.T) {
	s := startSandbox(t, nil)
	checkLeaks(t)
	n := 20
	if raceEnabled {
		n = 5 // a race-instrumented init takes ~1 s here
	}
	for i := 0; i < n; i++ {
		s.enter(t, "true", nil)
	}
	c := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "1000"}, Sandbox: s.sb, Env: []string{}}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	if err := c.Detach(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(); err == nil {
		t.Error("Wait after Detach succeeded")
	}
	killChild(t, pid)
	if kids := children(t); kids != strconv.Itoa(s.init.Pid()) {
		t.Errorf("children left: %q, want only the sandbox's init", kids)
	}
}

// killChild kills and reaps a child of this process by pid.
func killChild(t *testing.T, pid int) {
	t.Helper()
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
}

func cmdlineOf(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
}

// waitForCond polls cond, bounded generously: the assertion is on the
// outcome, not on how long it took.
func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestVMEnterMemoryLimit (VM tier: the memory controller): the entered
// command is charged to the sandbox's cgroup, whose limit OOM-kills it,
// and Wait says so; a small one fits.
func TestVMEnterMemoryLimit(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	s := startSandbox(t, nil)
	if err := os.WriteFile(filepath.Join(s.cg, "memory.max"), []byte("32M"), 0); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(s.cg, "memory.swap.max"), []byte("0"), 0)
	c := &namespace.Cmd{Path: "dd", Args: []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"},
		Env: []string{"PATH=/bin"}, Sandbox: s.sb}
	st, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !st.OOMKilled || st.Signal != unix.SIGKILL {
		t.Errorf("64 MiB in a 32 MiB sandbox: %+v, want OOM-killed", st)
	}
	if out := s.enter(t, "dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null && echo fits", nil); out != "fits\n" {
		t.Errorf("1 MiB: %q", out)
	}
}
