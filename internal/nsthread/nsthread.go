// Package nsthread runs code on a throwaway OS thread that may change its
// namespaces: the one place confine locks a thread, switches it, and then
// either restores it or lets the Go runtime discard it. The namespace
// package's Do and New, the netns package and the test utilities all use
// it, so the rule "never hand a thread in the wrong namespace back to the
// scheduler" is written once.
package nsthread

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run runs fn on a new goroutine locked to its OS thread and waits for it.
// fn reports whether it left the thread clean (in its original namespaces,
// with a shared fs_struct); a thread that is not clean stays locked, so
// the runtime terminates it when the goroutine ends instead of reusing it.
// fn never runs on the process's main thread: the runtime cannot end that
// one, and /proc/PID/ns/* and /proc/self/mountinfo describe it, so a main
// thread left in another namespace would mislead every later reader. A
// panic in fn is re-raised in the caller; the thread it happened on is
// discarded.
func Run(fn func() (clean bool, err error)) error {
	type result struct {
		err      error
		panicked bool
		val      any
	}
	var work func(done chan<- result)
	work = func(done chan<- result) {
		var r result
		clean := false
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread: hop. While this goroutine keeps the main
			// thread locked and waits, the new goroutine runs elsewhere.
			hop := make(chan result, 1)
			go work(hop)
			r = <-hop
			runtime.UnlockOSThread()
			done <- r
			return
		}
		defer func() {
			if v := recover(); v != nil {
				r.panicked, r.val = true, v
			}
			if clean && !r.panicked {
				runtime.UnlockOSThread()
			}
			done <- r
		}()
		clean, r.err = fn()
	}
	done := make(chan result, 1)
	go work(done)
	r := <-done
	if r.panicked {
		panic(r.val)
	}
	return r.err
}

// Unshare makes a new namespace of one kind (flag is its CLONE_NEW* flag,
// procName its file name under /proc/PID/ns) on a throwaway thread and
// returns an O_CLOEXEC fd of it. No process is in the namespace; the fd
// keeps it alive. The thread goes back to its original namespace, or is
// discarded when it cannot (a new mount namespace also unshares the
// thread's fs_struct, so such a thread is always discarded).
func Unshare(flag int, procName string) (int, error) {
	self := "/proc/thread-self/ns/" + procName
	fd := -1
	err := Run(func() (bool, error) {
		orig, err := unix.Open(self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return true, fmt.Errorf("opening %s: %w", self, err)
		}
		defer unix.Close(orig)
		if err := unix.Unshare(flag); err != nil {
			return true, os.NewSyscallError("unshare", err)
		}
		fd, err = unix.Open(self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			err = fmt.Errorf("opening the new %s namespace: %w", procName, err)
		}
		return flag != unix.CLONE_NEWNS && unix.Setns(orig, flag) == nil, err
	})
	return fd, err
}
