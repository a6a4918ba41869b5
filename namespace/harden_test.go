package namespace_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// Tests for the sandbox-hardening routes (issue 11): each performs the
// attack and checks the host afterwards.

func init() {
	testutil.RegisterHelper("tiocsti", helperTIOCSTI)
	testutil.RegisterHelper("ttycaller", helperTTYCaller)
	testutil.RegisterHelper("pdeathparent", helperPdeathParent)
}

// dockerCaps is docker's default capability set: no CAP_SYS_ADMIN.
var dockerCaps = namespace.OnlyCaps(0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)

// helperTIOCSTI is the attacker inside the sandbox: it pushes a byte into
// the input of the terminal on its stdin and signals its process group.
func helperTIOCSTI([]string) int {
	c := byte('#')
	_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafePointer(&c)))
	fmt.Printf("tiocsti %d\n", int(e))
	signal.Ignore(unix.SIGUSR1) // PID 1 of a namespace: be explicit
	fmt.Printf("killpg %v\n", unix.Kill(0, unix.SIGUSR1) == nil)
	return 0
}

// helperTTYCaller plays the user's shell: a session leader whose
// controlling terminal is its stdin (a pty slave), running a sandboxed
// command with that terminal as stdin, as `confine run` without -t does.
func helperTTYCaller([]string) int {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, unix.SIGUSR1)
	exe, _ := os.Executable()
	c := &namespace.Cmd{Path: exe, Env: []string{testutil.EnvHelper + "=tiocsti"},
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Namespaces: namespace.Set{namespace.PID, namespace.MNT}, Capabilities: dockerCaps}
	st, err := c.Run()
	if err != nil || !st.Success() {
		fmt.Printf("run %v %+v\n", err, st)
		return 1
	}
	select {
	case <-usr1:
		fmt.Println("caller signalled")
	default:
		fmt.Println("caller untouched")
	}
	return 0
}

func TestSandboxOwnSessionTIOCSTI(t *testing.T) {
	testutil.RequireRoot(t)
	legacy, _ := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti")
	if strings.TrimSpace(string(legacy)) == "0" {
		t.Log("dev.tty.legacy_tiocsti=0 here: TIOCSTI fails for everyone, the session check is not what stops it")
	}
	master, slave, err := namespace.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	caller := testutil.HelperCommand(t, "ttycaller")
	caller.Stdin = slave
	caller.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	out, err := caller.Output()
	if err != nil {
		t.Fatalf("caller: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "caller untouched") {
		t.Error("kill(0, SIGUSR1) inside the sandbox reached the caller's process group")
	}
	if !strings.Contains(string(out), "tiocsti ") || strings.Contains(string(out), "tiocsti 0\n") {
		t.Error("TIOCSTI on the caller's terminal succeeded")
	}
	n, err := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
	if err != nil || n != 0 {
		t.Errorf("the caller's terminal has %d injected input bytes (%v)", n, err)
	}
}

// statFields returns /proc/PID/stat fields after the command name: [0] is
// state, [1] ppid, [2] pgrp, [3] session, [4] tty_nr.
func statFields(t *testing.T, out string) []string {
	t.Helper()
	i := strings.LastIndexByte(out, ')')
	if i < 0 {
		t.Fatalf("bad stat %q", out)
	}
	return strings.Fields(out[i+1:])
}

func TestTTYIsControllingTerminal(t *testing.T) {
	testutil.RequireRoot(t)
	master, slave, err := namespace.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	c := &namespace.Cmd{Path: "/bin/sh", Args: sh("echo $$; cat /proc/self/stat"), TTY: slave, Stdout: slave,
		Namespaces: namespace.Set{namespace.MNT}}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out, _ := readAllPTY(master)
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(strings.ReplaceAll(out, "\r", ""), "\n", 2)
	f := statFields(t, lines[1])
	if f[3] != strings.TrimSpace(lines[0]) || f[4] != strconv.FormatUint(st.Rdev, 10) {
		t.Errorf("session %s (want the shell's pid %s), tty_nr %s (want %d)", f[3], lines[0], f[4], st.Rdev)
	}
	// Without TTY: a session of its own and no controlling terminal.
	out2 := run(t, &namespace.Cmd{Path: "/bin/cat", Args: []string{"cat", "/proc/self/stat"}})
	f = statFields(t, out2)
	mySid, _ := unix.Getsid(0)
	if f[3] == strconv.Itoa(mySid) || f[4] != "0" {
		t.Errorf("session %s tty_nr %s, want a new session and no terminal", f[3], f[4])
	}
}

// readAllPTY reads the master until the slave side is closed everywhere.
func readAllPTY(master *os.File) (string, error) {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), err
		}
	}
}

// helperPdeathParent starts a sandboxed sleep with Pdeathsig, prints its
// pid and waits to be killed.
func helperPdeathParent([]string) int {
	c := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "600"}, Pdeathsig: unix.SIGKILL,
		Namespaces: namespace.Set{namespace.PID, namespace.MNT},
		Credential: &namespace.Credential{UID: 1000, GID: 1000}}
	if err := c.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(c.Pid())
	select {}
}

// The command dies with the process that started it, even in a new PID
// namespace and after a credential change.
func TestPdeathsigParentKilled(t *testing.T) {
	testutil.RequireRoot(t)
	parent := testutil.HelperCommand(t, "pdeathparent")
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
	_ = parent.Process.Kill()
	_ = parent.Wait()
	// Generous bound; the kernel signals at the parent's exit.
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int((30 * time.Second).Milliseconds()))
	if err != nil || n != 1 {
		_ = unix.Kill(pid, unix.SIGKILL)
		t.Fatalf("the sandboxed sleep (pid %d) outlived its parent (%v)", pid, err)
	}
}

// A cgroup namespace created with a cgroup is rooted at that cgroup.
func TestCgroupNamespaceRootedAtCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	dir := testutil.TempCgroup(t)
	c := &namespace.Cmd{Path: "/bin/cat", Args: []string{"cat", "/proc/self/cgroup"}, CgroupPath: dir,
		Namespaces: namespace.Set{namespace.CGROUP, namespace.MNT}}
	out := run(t, c)
	if !strings.Contains(out, "0::/\n") {
		t.Errorf("/proc/self/cgroup in a new cgroup namespace:\n%s\nwant 0::/", out)
	}
}

// The bounding set does not depend on /proc/sys/kernel/cap_last_cap as
// the sandbox's root has it: here a plain file claiming 5.
func TestBoundingSetIgnoresSandboxCapLastCap(t *testing.T) {
	testutil.RequireRoot(t)
	root := busyboxRoot(t)
	fake := filepath.Join(root, "proc/sys/kernel")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "cap_last_cap"), []byte("5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := namespace.NewCapSet(0) // CAP_CHOWN
	c := &namespace.Cmd{Path: "/bin/cat", Args: []string{"cat", "/realproc/self/status"}, Env: []string{"PATH=/bin"},
		Namespaces: fiveNS, Capabilities: namespace.OnlyCaps(0),
		Root: &mount.Root{Path: root, Mounts: []mount.Mount{mount.Proc("/realproc")}}}
	st := statusFields(run(t, c))
	if want := fmt.Sprintf("%016x", uint64(keep)); st["CapBnd"] != want {
		t.Errorf("CapBnd = %s, want %s", st["CapBnd"], want)
	}
}

// /etc/passwd that is not a small regular file is refused at once, with a
// typed error, instead of read until the init runs out of memory.
func TestPasswdHostileRefused(t *testing.T) {
	testutil.RequireRoot(t)
	for name, mk := range map[string]func(p string) error{
		"symlink to /dev/zero": func(p string) error { return os.Symlink("/dev/zero", p) },
		"fifo":                 func(p string) error { return unix.Mkfifo(p, 0o644) },
		"2 MiB":                func(p string) error { return os.WriteFile(p, make([]byte, 2<<20), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			root := busyboxRoot(t)
			p := filepath.Join(root, "etc/passwd")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := mk(p); err != nil {
				t.Fatal(err)
			}
			c := &namespace.Cmd{Path: "/bin/true", Namespaces: fiveNS,
				Credential: &namespace.Credential{User: "nobody"},
				Root:       &mount.Root{Path: root, Mounts: []mount.Mount{mount.Dev("/dev")}}}
			err := c.Start()
			var fe *namespace.FileError
			var se *namespace.StepError
			if !errors.As(err, &fe) || fe.Path != "/etc/passwd" || !errors.As(err, &se) ||
				se.Step != namespace.StepCredentials {
				t.Fatalf("Start = %v, want a credentials *StepError with a *FileError", err)
			}
		})
	}
}

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }
