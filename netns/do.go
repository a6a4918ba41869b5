package netns

import (
	"errors"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on a fresh OS thread that has joined the network namespace h,
// and waits for it. Sockets fn creates belong to h and stay usable from any
// goroutine afterwards; this is how to listen or dial inside a namespace.
//
// The calling goroutine and its thread are never moved. fn must not start
// goroutines expecting them to run in h (they will not), nor unlock the
// thread. After fn returns the thread rejoins its original namespace; if
// that fails the thread is discarded instead of being reused, and Do
// reports the failure joined to fn's error. A panic in fn is re-raised in
// the caller after the thread was restored.
func Do(h *Handle, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		runtime.LockOSThread()
		clean := false
		defer func() {
			if clean {
				runtime.UnlockOSThread()
			}
			// A thread left locked at goroutine exit is terminated.
			done <- r
		}()
		clean, r.err = doLocked(h, func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					r.panicked, r.panicVal = true, v
				}
			}()
			return fn()
		})
	}()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// doLocked runs fn in h on the current, locked thread. clean reports
// whether the thread is back in its original namespace (or never left).
func doLocked(h *Handle, fn func() error) (clean bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, opErr("opening", "current thread netns", err)
	}
	defer unix.Close(orig)
	err = h.control(func(fd int) error { return unix.Setns(fd, unix.CLONE_NEWNET) })
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return true, err
		}
		// A failed setns leaves the thread where it was.
		return true, opErr("joining", h.String(), err)
	}
	err = fn()
	if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
		return false, errors.Join(err, opErr("restoring thread netns", "", rerr))
	}
	return true, err
}
