package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/nsthread"
)

// TempNetns creates a network namespace kept alive by a bind mount on a
// file in a temporary directory, and returns that file's path (usable with
// setns, `ip netns exec` via /proc, or netns.OpenPath). The namespace is
// unmounted when the test ends. Its loopback is down, as the kernel makes it.
func TempNetns(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	path := filepath.Join(t.TempDir(), "netns")
	if err := newNetnsAt(path); err != nil {
		t.Fatalf("creating test netns: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting test netns %s: %v", path, err)
		}
	})
	return path
}

// newNetnsAt makes a network namespace on a throwaway thread (the
// caller's threads never move) and bind-mounts it on path.
func newNetnsAt(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	fd, err := nsthread.Unshare(unix.CLONE_NEWNET, "net")
	if err == nil {
		err = unix.Mount("/proc/self/fd/"+strconv.Itoa(fd), path, "", unix.MS_BIND, "")
		unix.Close(fd)
		if err != nil {
			err = fmt.Errorf("bind-mounting netns on %s: %w", path, err)
		}
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
