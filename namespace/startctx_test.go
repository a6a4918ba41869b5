package namespace_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// fifoPasswdRoot builds a root whose /etc/passwd is a FIFO: an init told
// to run as a named user blocks opening it, as it would on a hung
// filesystem.
func fifoPasswdRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Never executed: the init hangs before exec.
	if err := os.WriteFile(filepath.Join(root, "bin/true"), []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestStartContextHungInit(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	c := &namespace.Cmd{
		Path:       "/bin/true",
		Namespaces: namespace.Set{namespace.MNT, namespace.PID},
		Credential: &namespace.Credential{User: "nobody"},
		Root:       &mount.Root{Path: fifoPasswdRoot(t)},
	}
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

func TestStartContextFinishes(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &namespace.Cmd{Path: "/bin/true", Namespaces: namespace.Set{namespace.UTS}}
	if err := c.StartContext(ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // bounds only the start: the command runs on
	if st, err := c.Wait(); err != nil || !st.Success() {
		t.Fatalf("command after a started StartContext: %+v %v", st, err)
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	c2 := &namespace.Cmd{Path: "/bin/true"}
	if err := c2.StartContext(done); !errors.Is(err, context.Canceled) || c2.Process != nil {
		t.Fatalf("StartContext on a done context = %v (process %v)", err, c2.Process)
	}
}
