package cgroup

// Freezing, killing and waiting for a cgroup to empty.
//
// The one mechanism the package uses for these (DeleteContext too):
//
//   - c.killAll(ctx) error: cgroup.kill, or the freeze/SIGKILL/thaw fallback
//     on kernels before 5.14; does not wait for the processes to exit.
//   - c.WaitEmpty(ctx) error: returns when cgroup.events says "populated 0".
//   - c.waitEvents(ctx, pred): the notification wait all of these use.
//
// Waiting never sleeps in a loop: kernfs signals every change of
// cgroup.events to pollers of an open fd of that file (POLLPRI), and the
// fd's event mark is reset by each read, so read-check-poll has no lost
// wake-up. Context cancellation wakes poll through an eventfd.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// Freeze freezes every process in the cgroup and its descendants and
// returns once cgroup.events reports "frozen 1". If ctx ends first the
// cgroup is thawed again and ctx's error is returned.
func (c *Cgroup) Freeze(ctx context.Context) error {
	if err := c.writeFile("cgroup.freeze", "1"); err != nil {
		return mapThreaded("freezing cgroup", err)
	}
	err := c.waitEvents(ctx, func(e cgEvents) bool { return e.frozen })
	if err != nil {
		if terr := c.writeFile("cgroup.freeze", "0"); terr != nil {
			err = errors.Join(err, internal.Errorf("thawing after failed freeze", terr))
		}
		return internal.Errorf("waiting for frozen", err)
	}
	return nil
}

// Thaw resumes the cgroup's processes and returns once cgroup.events
// reports "frozen 0" (an ancestor that is itself frozen keeps it frozen:
// then Thaw waits until ctx ends).
func (c *Cgroup) Thaw(ctx context.Context) error {
	if err := c.writeFile("cgroup.freeze", "0"); err != nil {
		return mapThreaded("thawing cgroup", err)
	}
	return internal.Errorf("waiting for thawed",
		c.waitEvents(ctx, func(e cgEvents) bool { return !e.frozen }))
}

// Kill sends SIGKILL to every process in the cgroup and its descendants
// and returns once the cgroup is empty ("populated 0"), or when ctx ends.
// It uses cgroup.kill (Linux 5.14); on older kernels it freezes the
// cgroup, kills every process it lists and thaws it, so no process can
// fork away meanwhile. In a threaded cgroup the error matches
// ErrNotSupported. A cgroup removed since it was opened gives an error
// matching os.ErrNotExist that names its directory.
func (c *Cgroup) Kill(ctx context.Context) error {
	if err := c.killAll(ctx); err != nil {
		return err
	}
	return c.WaitEmpty(ctx)
}

// WaitEmpty returns when no process is left in the cgroup or its
// descendants (cgroup.events "populated 0"), or with ctx's error.
func (c *Cgroup) WaitEmpty(ctx context.Context) error {
	return internal.Errorf("waiting for empty cgroup",
		c.waitEvents(ctx, func(e cgEvents) bool { return !e.populated }))
}

// killAll kills the subtree without waiting for it to empty.
func (c *Cgroup) killAll(ctx context.Context) error {
	err := c.writeFile("cgroup.kill", "1")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return mapThreaded("killing cgroup", err)
	}
	// cgroup.kill is missing either because the cgroup was removed (every
	// file of it is gone then) or because the kernel predates 5.14.
	if c.removed() {
		return internal.Errorf("killing cgroup", &os.PathError{Op: "kill", Path: c.path, Err: unix.ENOENT})
	}
	return c.killFallback(ctx)
}

// removed reports whether c's directory was removed: cgroup.procs, which
// every cgroup has (the root and threaded ones too), is gone from it. The
// check goes through c's fd, so a new cgroup made at the same path since
// does not hide the removal.
func (c *Cgroup) removed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fd >= 0 && !existsAt(c.fd, "cgroup.procs")
}

// killFallback is cgroup.kill for kernels before 5.14: freeze, SIGKILL
// every listed pid of the subtree, thaw. Frozen processes cannot fork, and
// SIGKILL is delivered to frozen tasks once they are thawed.
func (c *Cgroup) killFallback(ctx context.Context) error {
	if err := c.Freeze(ctx); err != nil {
		return err
	}
	kerr := filepath.WalkDir(c.path, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return mapThreaded("listing processes", err)
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = unix.Kill(pid, unix.SIGKILL) // ESRCH: already gone
			}
		}
		return nil
	})
	// Thaw even if ctx ended: a frozen, half-killed group helps nobody.
	if err := c.writeFile("cgroup.freeze", "0"); err != nil {
		kerr = errors.Join(kerr, internal.Errorf("thawing after kill", err))
	}
	return kerr
}

// mapThreaded turns EOPNOTSUPP (the operation is not allowed on a threaded
// cgroup) into an error matching ErrNotSupported, keeping the errno.
func mapThreaded(op string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return &internal.UnsupportedError{Feature: op,
			Reason: "not possible in a threaded cgroup", Err: err}
	}
	return internal.Errorf(op, err)
}

// waitEvents blocks until pred holds for the cgroup's cgroup.events or ctx
// ends.
func (c *Cgroup) waitEvents(ctx context.Context, pred func(cgEvents) bool) error {
	fd, err := c.openFile("cgroup.events", unix.O_RDONLY)
	if err != nil {
		return fileError("read", filepath.Join(c.path, "cgroup.events"), "", err)
	}
	defer unix.Close(fd)
	var wake *eventFD
	var buf [128]byte
	for {
		n, err := preadRetry(fd, buf[:])
		if err != nil {
			return fileError("read", filepath.Join(c.path, "cgroup.events"), "", err)
		}
		var ev cgEvents
		if err := parseCgroupEvents(buf[:n], &ev); err != nil {
			return fmt.Errorf("parsing %s: %w", filepath.Join(c.path, "cgroup.events"), err)
		}
		if pred(ev) {
			return nil
		}
		if wake == nil { // only set up cancellation when we must wait
			if err := ctx.Err(); err != nil {
				return err
			}
			if wake, err = newEventFD(); err != nil {
				return err
			}
			defer wake.Close()
			stop := context.AfterFunc(ctx, wake.signal)
			defer stop()
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}, {Fd: int32(wake.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
			return os.NewSyscallError("poll", err)
		}
		if pfd[1].Revents != 0 {
			return ctx.Err()
		}
	}
}

func preadRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Pread(fd, b, 0)
		if err != unix.EINTR {
			return n, err
		}
	}
}
