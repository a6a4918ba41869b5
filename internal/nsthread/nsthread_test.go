package nsthread

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A new namespace differs from the process's, and no thread of the
// process is left in it: every Run afterwards starts in the original.
func TestUnshareLeavesThreadsClean(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (unshare(CLONE_NEWNET))")
	}
	host := inode(t, "/proc/self/ns/net")
	for range 20 {
		fd, err := Unshare(unix.CLONE_NEWNET, "net")
		if err != nil {
			t.Fatal(err)
		}
		if got := inode(t, "/proc/self/fd/"+strconv.Itoa(fd)); got == host {
			t.Fatalf("new namespace has the host's inode %d", got)
		}
		unix.Close(fd)
		err = Run(func() (bool, error) {
			if got := inode(t, "/proc/thread-self/ns/net"); got != host {
				t.Errorf("a reused thread is in net:[%d], want the host's %d", got, host)
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A panic in fn reaches the caller.
func TestRunRepanics(t *testing.T) {
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want boom", v)
		}
	}()
	_ = Run(func() (bool, error) { panic("boom") })
	t.Fatal("Run returned after a panic")
}

// fn never runs on the main thread, whose namespaces /proc/PID/ns shows:
// even a thread that must be discarded leaves the process's view alone.
func TestRunNeverOnMainThread(t *testing.T) {
	for range 200 {
		err := Run(func() (bool, error) {
			if unix.Gettid() == unix.Getpid() {
				t.Error("fn ran on the main thread")
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() != 0 {
		return
	}
	mnt := inode(t, "/proc/self/ns/mnt")
	for range 20 {
		fd, err := Unshare(unix.CLONE_NEWNS, "mnt")
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	if got := inode(t, "/proc/self/ns/mnt"); got != mnt {
		t.Fatalf("/proc/self/ns/mnt moved from %d to %d", mnt, got)
	}
}
