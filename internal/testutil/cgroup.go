package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TempCgroup creates a fresh cgroup v2 directory directly below the unified
// root and removes it (killing anything left inside) when the test ends.
// It needs root and a cgroup v2 mount; it returns the absolute path.
// Controllers enabled at the root are available in it; enabling them in
// its own cgroup.subtree_control is the test's business.
func TempCgroup(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	root := RequireUnified(t)
	dir, err := os.MkdirTemp(root, "confine-test-")
	if err != nil {
		t.Fatalf("creating test cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := RemoveCgroupTree(dir); err != nil {
			t.Errorf("removing test cgroup %s: %v", dir, err)
		}
	})
	return dir
}

// RemoveCgroupTree kills every process in the cgroup tree at dir and removes
// it bottom-up, with the BPF pins confine made for each removed cgroup on
// the host's BPF filesystem (a test that SIGKILLs a confine run leaves its
// device and network pins behind otherwise). It is a blunt test helper,
// independent of package cgroup.
func RemoveCgroupTree(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// cgroup.kill (5.14) kills the whole subtree; else SIGKILL each pid.
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				killProcs(p)
			}
			return nil
		})
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var last error
	for i := len(dirs) - 1; i >= 0; i-- {
		var st unix.Stat_t
		if unix.Stat(dirs[i], &st) == nil {
			defer removePins(st.Ino) // after the rmdir: nothing can attach anew
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := unix.Rmdir(dirs[i])
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				last = &os.PathError{Op: "rmdir", Path: dirs[i], Err: err}
				break
			}
			killProcs(dirs[i])
			time.Sleep(10 * time.Millisecond)
		}
	}
	return last
}

func killProcs(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		var pid int
		for _, c := range f {
			pid = pid*10 + int(c-'0')
		}
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// removePins unpins what confine pinned for the cgroup whose directory had
// inode ino: the directory /sys/fs/bpf/confine/cg-<ino>, and its entry in
// each shared device program's directory (dev-<hash>/cg-<ino>, named by
// an empty directory dev-<hash> in cg-<ino>), with the program when no
// other cgroup uses it (internal/bpfpin's and internal/devfilter's naming,
// which import this package's tests and so cannot be imported).
func removePins(ino uint64) {
	const root = "/sys/fs/bpf/confine"
	user := "cg-" + strconv.FormatUint(ino, 10)
	dir := filepath.Join(root, user)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !e.IsDir() {
			_ = unix.Unlink(p)
			continue
		}
		shared := filepath.Join(root, e.Name())
		_ = unix.Unlink(filepath.Join(shared, user))
		if users, err := os.ReadDir(shared); err == nil && len(users) == 1 && users[0].Name() == "prog" {
			_ = unix.Unlink(filepath.Join(shared, "prog"))
			_ = unix.Rmdir(shared)
		}
		_ = unix.Rmdir(p)
	}
	_ = unix.Rmdir(dir)
}
