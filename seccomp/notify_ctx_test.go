package seccomp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
	"golang.org/x/sys/unix"
)

func init() {
	testutil.RegisterHelper("seccomp-notify-wait", helperNotifyWait)
}

// helperNotifyWait sends getpriority to a listener it passes to the parent
// over fd 3, then waits for a byte on fd 3 before calling getpriority
// once and printing the answer, so the parent controls when the
// notification arrives.
func helperNotifyWait(args []string) int {
	p := &Profile{DefaultAction: NameActAllow, Syscalls: []Syscall{{Names: []string{"getpriority"}, Action: NameActNotify}}}
	prog, _, err := CompileProfile(p, Target{Kernel: "6.1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	l, err := Load(prog, LoadOptions{Flags: FlagTSYNC | FlagTSYNCESRCH | FlagNewListener})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(l.FD()), nil, 0); err != nil {
		fmt.Fprintln(os.Stderr, "sending listener:", err)
		return 3
	}
	l.Close()
	if _, err := unix.Read(3, make([]byte, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "waiting for go:", err)
		return 3
	}
	r, _, e := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)
	fmt.Printf("got %d %d\n", int(r), int(e))
	return 0
}

// startNotifyWait starts helperNotifyWait and returns its listener and
// the parent's end of the socket (write a byte to let it call).
func startNotifyWait(t *testing.T) (*Listener, int, func() string) {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	childEnd := os.NewFile(uintptr(pair[1]), "child-sock")
	t.Cleanup(func() { unix.Close(pair[0]) })
	cmd := testutil.HelperCommand(t, "seccomp-notify-wait")
	cmd.ExtraFiles = []*os.File{childEnd}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	l := receiveListener(t, pair[0])
	t.Cleanup(func() { l.Close() })
	wait := func() string {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
		return out.String()
	}
	return l, pair[0], wait
}

func TestReceiveContext(t *testing.T) {
	testutil.RequireKernel(t, "5.8") // POLLHUP once the targets are gone
	testutil.CheckLeaks(t)
	l, sock, wait := startNotifyWait(t)

	// Nothing pending: a deadline ends the wait with DeadlineExceeded.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := l.ReceiveContext(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReceiveContext past its deadline: %v", err)
	}
	// Cancellation from another goroutine wakes it.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = l.ReceiveContext(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReceiveContext after cancel: %v", err)
	}
	// An already cancelled context does not even poll.
	if _, err := l.ReceiveContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReceiveContext on a done context: %v", err)
	}

	// A notification arrives within a live context.
	if _, err := unix.Write(sock, []byte{1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := l.ReceiveContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Nr != unix.SYS_GETPRIORITY {
		t.Fatalf("notification for syscall %d, want getpriority", n.Nr)
	}
	if err := l.Respond(Response{ID: n.ID, Val: 7}); err != nil {
		t.Fatal(err)
	}
	if out := wait(); out != "got 7 0\n" {
		t.Fatalf("child saw %q", out)
	}
	// The target is reaped: the listener hangs up instead of blocking.
	if _, err := l.ReceiveContext(ctx); !errors.Is(err, ErrNoTargets) {
		t.Fatalf("ReceiveContext with no targets left: %v", err)
	}
}

func TestReceiveContextClosed(t *testing.T) {
	c := &Listener{fd: -1}
	if _, err := c.ReceiveContext(context.Background()); !errors.Is(err, unix.EBADF) {
		t.Fatalf("ReceiveContext on a closed listener: %v", err)
	}
}
