package cgroup

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/bpfpin"
)

// deleteWait bounds how long Delete waits for exiting processes to leave.
const deleteWait = 10 * time.Second

// DeleteOptions tunes DeleteContext. The zero value waits and does not kill.
type DeleteOptions struct {
	// Kill sends SIGKILL to every process left in the cgroup and its
	// descendants (as Kill does) before removing them.
	Kill bool
}

// Delete is DeleteContext with a 10 s bound and no killing: it removes an
// empty cgroup tree, waiting for processes that are already exiting.
func (c *Cgroup) Delete() error {
	return c.delete(context.Background(), DeleteOptions{}, deleteWait)
}

// DeleteContext removes the cgroup and its descendants, deepest first,
// after detaching device and network programs and removing their pins
// (see the package doc), and closes c. With
// opts.Kill the remaining processes are killed first; otherwise a
// populated cgroup is waited for (WaitEmpty) until ctx ends, and the error
// then wraps EBUSY, names the directory and carries ctx's error. Every
// failure is returned (errors.Join), not only the first.
func (c *Cgroup) DeleteContext(ctx context.Context, opts DeleteOptions) error {
	return c.delete(ctx, opts, 0)
}

// delete is DeleteContext; a bound > 0 limits each wait for empty. The
// bound's context is made only when a wait is needed, so the common
// delete of an empty leaf allocates nothing for it.
func (c *Cgroup) delete(ctx context.Context, opts DeleteOptions, bound time.Duration) error {
	var errs []error
	if opts.Kill {
		if err := c.killAll(ctx); err != nil && !gone(c.path) {
			errs = append(errs, err)
		}
	}
	if c.mayHavePrograms() {
		if err := c.deleteDevices(); err != nil {
			errs = append(errs, internal.Errorf("detaching device program", err))
		}
		if err := c.deleteNetwork(); err != nil {
			errs = append(errs, internal.Errorf("detaching network programs", err))
		}
	}
	if err := c.removeTree(ctx, bound); err != nil {
		errs = append(errs, err)
	}
	if err := c.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Cgroup) removeTree(ctx context.Context, bound time.Duration) error {
	// Common case first: a leaf with no children goes with one rmdir,
	// without listing its ~50 control files.
	switch err := rmdir(c.path); {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY) && !hasChildren(c.path):
		return c.rmdirWait(ctx, bound, c.path)
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
		if err := c.rmdirWait(ctx, bound, dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// rmdirWait removes dir, a directory of c's subtree. When the kernel says
// it is busy it waits for c's whole subtree to be empty (cgroup.events is
// hierarchical, so one wait serves every directory) and tries once more.
func (c *Cgroup) rmdirWait(ctx context.Context, bound time.Duration, dir string) error {
	err := rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) {
		return internal.Errorf("removing cgroup", &os.PathError{Op: "rmdir", Path: dir, Err: err})
	}
	if bound > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, bound)
		defer cancel()
	}
	if werr := c.WaitEmpty(ctx); werr != nil {
		return errors.Join(internal.Errorf("removing cgroup (still populated: kill its processes first)",
			&os.PathError{Op: "rmdir", Path: dir, Err: err}), werr)
	}
	// Empty now; a failure here is new (e.g. a child cgroup made meanwhile).
	err = rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return internal.Errorf("removing cgroup", &os.PathError{Op: "rmdir", Path: dir, Err: err})
}

// mayHavePrograms reports whether Delete must detach device and network
// programs and remove their pins. A value that applied Devices or Network
// must. Any other cgroup (an empty new one, or one opened by a restarted
// manager) can only have pins in its pin directory, /sys/fs/bpf/confine/
// cg-<id>: when that does not exist there is nothing to unpin, and the
// kernel releases programs attached without a pin together with the
// cgroup. One fstatat answers, instead of a BPF query and a walk of the
// pin names on every Delete.
func (c *Cgroup) mayHavePrograms() bool {
	if c.attached.Load() {
		return c.onCgroupFS()
	}
	id, err := c.pinID()
	if err != nil {
		return c.onCgroupFS() // cannot tell: look
	}
	dir := bpfpin.DirForID(id)
	if !existsAt(unix.AT_FDCWD, dir) {
		if networkFS == bpfpin.Default {
			return false
		}
		if !existsAt(unix.AT_FDCWD, networkFS.DirForID(id)) {
			return false
		}
	}
	return c.onCgroupFS()
}

// onCgroupFS reports whether c lives on a cgroup2 filesystem (or may: an
// error says yes). Elsewhere (a test's fake root) nothing can be attached
// and no pin is named after it, and the inode number that names pins could
// even equal a real cgroup's id, so BPF clean-up must not run.
func (c *Cgroup) onCgroupFS() bool {
	var st unix.Statfs_t
	var err error
	if fd := c.FD(); fd >= 0 {
		err = unix.Fstatfs(fd, &st)
	} else {
		err = unix.Statfs(c.path, &st)
	}
	return err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC
}

// gone reports whether the directory no longer exists (a cgroup deleted
// before, perhaps through a value closed since): nothing left to kill.
func gone(dir string) bool {
	_, err := os.Stat(dir)
	return errors.Is(err, os.ErrNotExist)
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
