package namespace_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

func init() { testutil.RegisterHelper("gate-start", helperGateStart) }

// gatedSleep is a Cmd running sleep 1000 in a busybox root behind gate.
func gatedSleep(root string, gate *namespace.Gate) *namespace.Cmd {
	r := mount.DefaultRoot(root, true)
	return &namespace.Cmd{
		Path: "/bin/sleep", Args: []string{"sleep", "1000"},
		Namespaces: fiveNS, Root: &r, Gate: gate, Env: []string{},
	}
}

func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSuffix(string(b), "\x00"), "\x00", " ")
}

// newGate makes a gate in a temporary directory, closed when the test ends.
func newGate(t *testing.T) (*namespace.Gate, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "gate.sock")
	gate, err := namespace.NewGate(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gate.Close() })
	return gate, sock
}

func gateRoot(t *testing.T) string {
	return testutil.BusyboxRoot(t, []string{"proc", "sys", "dev"}, "sleep")
}

func TestGateHoldsExecUntilRelease(t *testing.T) {
	testutil.RequireRoot(t)
	gate, sock := newGate(t)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("gate socket %v, %v: want mode 0600", fi.Mode(), err)
	}
	c := gatedSleep(gateRoot(t), gate)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	defer func() { _ = unix.Kill(pid, unix.SIGKILL); _, _ = unix.Wait4(pid, nil, 0, nil) }()
	// Setup is done (Start returned) but the command has not been exec'd:
	// the process is still the init, already inside its new namespaces.
	if got := cmdline(t, pid); got != "confine-init" {
		t.Fatalf("before release: cmdline %q, want the waiting init", got)
	}
	h, err := namespace.Open(pid, namespace.MNT)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := namespace.Open(os.Getpid(), namespace.MNT)
	if h.Equal(self) {
		t.Error("waiting init is still in the caller's mount namespace")
	}
	h.Close()
	self.Close()
	if err := c.Detach(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(); err == nil {
		t.Error("Wait after Detach succeeded")
	}
	if err := namespace.ReleaseGate(testCtx(t), sock); err != nil {
		t.Fatalf("ReleaseGate: %v", err)
	}
	if got := cmdline(t, pid); got != "sleep 1000" {
		t.Fatalf("after release: cmdline %q, want the command", got)
	}
	err = namespace.ReleaseGate(testCtx(t), sock)
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("second release: %v, want ECONNREFUSED", err)
	}
}

func TestGateReportsExecFailure(t *testing.T) {
	testutil.RequireRoot(t)
	sock := filepath.Join(t.TempDir(), "gate.sock")
	gate, err := namespace.NewGate(sock)
	if err != nil {
		t.Fatal(err)
	}
	c := gatedSleep(gateRoot(t), gate)
	c.Path = "/bin/missing"
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	gate.Close()
	err = namespace.ReleaseGate(testCtx(t), sock)
	var se *namespace.StepError
	if !errors.As(err, &se) || se.Step != namespace.StepExec || !errors.Is(err, unix.ENOENT) {
		t.Errorf("release of a missing command: %v, want an exec *StepError matching ENOENT", err)
	}
	st, err := c.Wait()
	if err != nil || st.ExitCode != 125 {
		t.Errorf("init after failed exec: %+v, %v; want exit 125", st, err)
	}
}

// Pdeathsig and Detach meet only at a gate: without one, or once the
// command has been released, it keeps its parent-death signal.
func TestGateDetachPdeathsig(t *testing.T) {
	testutil.RequireRoot(t)
	c := gatedSleep(gateRoot(t), nil)
	c.Pdeathsig = syscall.SIGKILL
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var ie *namespace.InvalidError
	if err := c.Detach(); !errors.As(err, &ie) || ie.Field != "Pdeathsig" {
		t.Errorf("Detach with Pdeathsig and no Gate: %v, want an *InvalidError", err)
	}
	_ = c.Signal(syscall.SIGKILL)
	c.Wait()

	gate, sock := newGate(t)
	c = gatedSleep(gateRoot(t), gate)
	c.Pdeathsig = syscall.SIGKILL
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	defer c.Signal(syscall.SIGKILL)
	if err := namespace.ReleaseGate(testCtx(t), sock); err != nil {
		t.Fatal(err)
	}
	if err := c.Detach(); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("Detach with Pdeathsig after release: %v, want ECONNREFUSED", err)
	}
}

// helperGateStart starts gated sleep in root args[0] behind a gate at
// args[1], prints its pid and exits. args[2] says how: "detach" (no
// Pdeathsig), "handover" (Pdeathsig, then Detach) or "abandon" (Pdeathsig
// and no Detach: the init must die with this process).
func helperGateStart(args []string) int {
	gate, err := namespace.NewGate(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := gatedSleep(args[0], gate)
	if args[2] != "detach" {
		c.Pdeathsig = syscall.SIGKILL
	}
	if err := c.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if args[2] != "abandon" {
		if err := c.Detach(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println(c.Pid())
	return 0
}

// TestGateDiesWithStarter: an init started with Pdeathsig and never
// handed over dies when its starter exits, while waiting at the gate.
func TestGateDiesWithStarter(t *testing.T) {
	pid, _, _ := startAtGate(t, "abandon")
	pidfd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // gone already
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 60_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n != 1 {
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			t.Fatalf("the abandoned init %d outlived its starter: %v", pid, err)
		}
		return
	}
}

// TestGateOutlivesStarter proves the create/start split across processes:
// the starter exits, the init keeps waiting (reparented), and a release
// from this process execs the command; with Pdeathsig once handed over.
func TestGateOutlivesStarter(t *testing.T) {
	for _, how := range []string{"detach", "handover"} {
		t.Run(how, func(t *testing.T) { gateOutlivesStarter(t, how) })
	}
}

// startAtGate runs the gate-start helper, which starts an init waiting at
// a gate, leaves it as how says and exits; it returns the init's pid, the
// helper's and the gate's path.
func startAtGate(t *testing.T, how string) (pid, starter int, sock string) {
	t.Helper()
	testutil.RequireRoot(t)
	sock = filepath.Join(t.TempDir(), "gate.sock")
	hc := testutil.HelperCommand(t, "gate-start", gateRoot(t), sock, how)
	out, err := hc.Output()
	if err != nil {
		t.Fatalf("starter: %v", err)
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
		t.Fatalf("starter printed %q", out)
	}
	return pid, hc.Process.Pid, sock
}

func gateOutlivesStarter(t *testing.T, how string) {
	pid, starter, sock := startAtGate(t, how)
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("the waiting init %d did not outlive its starter: %v (%s)", pid, err, statusField(t, pid, "State"))
	}
	defer unix.Close(pidfd)
	defer unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	if got := cmdline(t, pid); got != "confine-init" {
		t.Fatalf("after the starter exited: cmdline %q, want the waiting init", got)
	}
	if ppid := statusField(t, pid, "PPid"); ppid == strconv.Itoa(starter) {
		t.Errorf("init's parent is still the exited starter %s", ppid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := namespace.ReleaseGate(ctx, sock); err != nil {
		t.Fatalf("ReleaseGate: %v", err)
	}
	if got := cmdline(t, pid); got != "sleep 1000" {
		t.Fatalf("after release: cmdline %q", got)
	}
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
			break
		}
	}
}

func statusField(t *testing.T, pid int, key string) string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// testCtx bounds a release, so a broken gate fails the test instead of
// hanging it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
