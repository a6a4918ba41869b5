package namespace

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/nsthread"
)

// Do runs fn on a fresh goroutine locked to its OS thread after joining the
// given namespaces, and waits for it. Afterwards it switches the thread
// back to its original namespaces and unlocks it; when that fails the thread
// stays locked so the Go runtime discards it when the goroutine ends (on the
// main thread the runtime parks it instead), never handing a thread in the
// wrong namespace to other goroutines. A panic in fn is re-raised in the
// caller after its thread was discarded.
//
// Sockets fn creates belong to the joined network namespace and stay usable
// from any goroutine afterwards: this is how to listen or dial inside a
// netns. fn must not start goroutines expecting them to run in the joined
// namespaces (they will not), nor unlock the thread.
//
// A mount namespace is joined after unshare(CLONE_FS), which gives the
// thread its own root and working directory; such a thread is never
// reused. Joining a USER namespace fails with ErrMultithreadedUserns. PID and
// TIME handles only affect children forked from the thread (the kernel's
// pid_for_children); goroutines started by fn run on other threads in the
// original namespaces.
func Do(fn func() error, handles ...*Handle) error {
	for _, h := range handles {
		if h == nil {
			return &InvalidError{Pkg: "namespace", Field: "handles", Value: "<nil>", Reason: "nil handle"}
		}
		if h.kind == USER {
			return ErrMultithreadedUserns
		}
	}
	return nsthread.Run(func() (clean bool, err error) {
		restore, err := enter(handles)
		if err == nil {
			err = fn()
		}
		return restore(), err
	})
}

// enter joins handles on the calling (locked) thread. It returns, also on
// failure, a function that switches the thread back and reports whether it
// is clean again (back where it was, with a shared fs_struct).
func enter(handles []*Handle) (restore func() bool, err error) {
	var saved []*Handle
	dirtyFS := false
	restore = func() bool {
		ok := !dirtyFS
		for i := len(saved) - 1; i >= 0; i-- {
			h := saved[i]
			if ok && h.Control(func(fd int) error { return unix.Setns(fd, int(h.kind.CloneFlag())) }) != nil {
				ok = false
			}
			h.Close()
		}
		return ok
	}
	for _, h := range sortForJoin(handles) {
		cur, err := currentForJoin(h.kind)
		if err != nil {
			return restore, err
		}
		saved = append(saved, cur)
		if h.kind == MNT && !dirtyFS {
			// setns(CLONE_NEWNS) needs a thread-private fs_struct. It cannot be
			// shared again, so this thread is discarded afterwards.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return restore, fmt.Errorf("namespace: unshare(CLONE_FS): %w", err)
			}
			dirtyFS = true
		}
		err = h.Control(func(fd int) error { return unix.Setns(fd, int(h.kind.CloneFlag())) })
		if errors.Is(err, ErrClosed) {
			return restore, err
		}
		if err != nil {
			return restore, fmt.Errorf("namespace: joining %s: setns: %w", h, err)
		}
	}
	return restore, nil
}

// currentForJoin opens the namespace setns(kind) would replace: for PID and
// TIME that is the one for children, not the thread's own.
func currentForJoin(k Kind) (*Handle, error) {
	name := k.ProcName()
	if k == PID || k == TIME {
		name += "_for_children"
	}
	return OpenPath("/proc/thread-self/ns/" + name)
}

func sortForJoin(handles []*Handle) []*Handle {
	out := make([]*Handle, 0, len(handles))
	for _, k := range allKinds {
		for _, h := range handles {
			if h.kind == k {
				out = append(out, h)
			}
		}
	}
	return out
}
