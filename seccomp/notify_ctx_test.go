package seccomp

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	if code := sendNotifyListener(); code != 0 {
		return code
	}
	if _, err := unix.Read(3, make([]byte, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "waiting for go:", err)
		return 3
	}
	r, _, e := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)
	fmt.Printf("got %d %d\n", int(r), int(e))
	return 0
}

func TestReceiveContext(t *testing.T) {
	testutil.RequireKernel(t, "5.8") // POLLHUP once the targets are gone
	testutil.CheckLeaks(t)
	l, sock, wait := startNotifyChild(t, "seccomp-notify-wait")

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
