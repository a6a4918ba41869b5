package namespace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// An init killed before it reached exec is a setup failure naming the
// step, never the command's status.
func TestInitKilledIsStepError(t *testing.T) {
	testutil.RequireRoot(t)
	testHookStarted = func(pid int) {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(fd)
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		// Until it is dead (pidfd readable), so the kill is not racing the
		// handshake.
		_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
	}
	defer func() { testHookStarted = nil }()
	c := &Cmd{Path: "/bin/true", Namespaces: Set{MNT, PID}}
	err := c.Start()
	var se *StepError
	var died *InitDiedError
	if !errors.As(err, &se) || (se.Step != StepStart && se.Step != StepConfig) ||
		!errors.As(err, &died) || died.Signal != unix.SIGKILL {
		t.Fatalf("Start with the init killed = %v, want a start/config *StepError with *InitDiedError(SIGKILL)", err)
	}
}

// TestStartContextHungInit freezes the init (cgroup.freeze) right after it
// was exec'd: it hangs in setup as on a hung filesystem, until
// StartContext kills it. (The init no longer blocks on any file of the
// sandbox: a FIFO at /etc/passwd is refused, see TestPasswdHostileRefused.)
func TestStartContextHungInit(t *testing.T) {
	root := testutil.RequireUnified(t)
	testutil.RequireRoot(t)
	dir := testutil.TempCgroup(t)
	if !strings.HasPrefix(dir, root) {
		t.Fatalf("cgroup %s not below %s", dir, root)
	}
	testHookStarted = func(int) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("1"), 0); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookStarted = nil }()
	c := &Cmd{Path: "/bin/true", Namespaces: Set{MNT, PID}, CgroupPath: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.StartContext(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("StartContext with a hung init = %v, want DeadlineExceeded", err)
	}
	// The init was killed and reaped: its pid is gone.
	st, werr := c.Wait()
	if werr != nil || st == nil || st.Signal != unix.SIGKILL {
		t.Fatalf("init state %+v %v, want killed by SIGKILL", st, werr)
	}
	if err := unix.Kill(st.Pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Fatalf("init pid %d still exists: %v", st.Pid, err)
	}
}
