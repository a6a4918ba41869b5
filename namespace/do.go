package namespace

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on a fresh goroutine locked to its OS thread after joining the
// given namespaces, and waits for it. Afterwards it switches the thread
// back to its original namespaces and unlocks it; when that fails the thread
// stays locked so the Go runtime discards it when the goroutine ends (on the
// main thread the runtime parks it instead), never handing a thread in the
// wrong namespace to other goroutines.
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
			return &InvalidError{Field: "handles", Value: "<nil>", Reason: "nil handle"}
		}
		if h.kind == USER {
			return ErrMultithreadedUserns
		}
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restore, err := enter(handles)
		if err == nil {
			err = fn()
		}
		if restore != nil && restore() {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// enter joins handles on the calling (locked) thread. It returns a function
// that switches back and reports whether the thread is clean again; a nil
// restore means the thread must be discarded.
func enter(handles []*Handle) (restore func() bool, err error) {
	sorted := sortForJoin(handles)
	var saved []*Handle
	dirtyFS := false
	restore = func() bool {
		ok := !dirtyFS
		for i := len(saved) - 1; i >= 0; i-- {
			if ok && unix.Setns(saved[i].fd, int(saved[i].kind.CloneFlag())) != nil {
				ok = false
			}
			saved[i].Close()
		}
		return ok
	}
	for _, h := range sorted {
		cur, err := currentForJoin(h.kind)
		if err != nil {
			restore()
			return nil, err
		}
		saved = append(saved, cur)
		if h.kind == MNT && !dirtyFS {
			// setns(CLONE_NEWNS) needs a thread-private fs_struct. It cannot be
			// shared again, so this thread is discarded afterwards.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				restore()
				return nil, fmt.Errorf("namespace: unshare(CLONE_FS): %w", err)
			}
			dirtyFS = true
		}
		fd := h.FD()
		if fd < 0 {
			restore()
			return nil, errClosed
		}
		if err := unix.Setns(fd, int(h.kind.CloneFlag())); err != nil {
			restore()
			return nil, fmt.Errorf("namespace: joining %s: setns: %w", h, err)
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
