package cgroup

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// deleteWait bounds how long Delete waits for exiting processes to leave.
const deleteWait = 10 * time.Second

// Delete removes the cgroup and its descendants, deepest first, after
// detaching device and network programs, and closes c. It does not kill:
// stop the processes first (Kill). Processes that are exiting are waited
// for (until cgroup.events says "populated 0", watched with inotify, at most
// 10 s); if the group stays populated the error wraps EBUSY and names it.
func (c *Cgroup) Delete() error {
	var errs []error
	if err := c.deleteDevices(); err != nil {
		errs = append(errs, internal.Errorf("detaching device program", err))
	}
	if err := c.deleteNetwork(); err != nil {
		errs = append(errs, internal.Errorf("detaching network programs", err))
	}
	if err := c.removeTree(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Cgroup) removeTree() error {
	// Common case first: a leaf with no children goes with one rmdir,
	// without listing its ~50 control files.
	switch err := unix.Rmdir(c.path); {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY) && !hasChildren(c.path):
		return rmdirWait(c.path)
	}
	var dirs []string
	err := filepath.WalkDir(c.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return internal.Errorf("listing cgroup tree", err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rmdirWait(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// rmdirWait removes one cgroup directory, waiting for it to become
// unpopulated when the kernel says it is busy.
func rmdirWait(dir string) error {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.EBUSY) {
		if werr := waitUnpopulated(dir, deleteWait); werr == nil {
			err = unix.Rmdir(dir)
			if err == nil || errors.Is(err, unix.ENOENT) {
				return nil
			}
		}
		return internal.Errorf("removing cgroup (still populated; kill its processes first)",
			&os.PathError{Op: "rmdir", Path: dir, Err: err})
	}
	return internal.Errorf("removing cgroup", &os.PathError{Op: "rmdir", Path: dir, Err: err})
}

// waitUnpopulated waits until dir/cgroup.events reports "populated 0".
// The kernel signals changes of that file as inotify IN_MODIFY, so this
// sleeps in the kernel rather than polling.
func waitUnpopulated(dir string, timeout time.Duration) error {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(ifd)
	ev := filepath.Join(dir, "cgroup.events")
	if _, err := unix.InotifyAddWatch(ifd, ev, unix.IN_MODIFY); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		b, err := os.ReadFile(ev)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("populated 0")) {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return unix.ETIMEDOUT
		}
		pfd := []unix.PollFd{{Fd: int32(ifd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return err
		}
		_, _ = unix.Read(ifd, buf) // drain; the content is re-read above
	}
}

// hasChildren reports whether dir has a subdirectory (a child cgroup).
func hasChildren(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}
