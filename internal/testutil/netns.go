package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
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

// newNetnsAt unshares a network namespace on a locked thread, bind-mounts
// it on path and switches the thread back. If the thread cannot be switched
// back it stays locked, so the Go runtime discards it (or, for the main
// thread, parks it) instead of reusing it in the wrong namespace.
func newNetnsAt(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening current netns: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		err = unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		if err != nil {
			err = fmt.Errorf("bind-mounting netns on %s: %w", path, err)
		}
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
