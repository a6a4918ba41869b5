package main

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

// prepareEDTNetns makes the sandbox's network namespace before the
// command starts when an egress rate is asked with --network none, so an
// fq qdisc can be installed on its lo: the bandwidth limiter then paces
// packets by departure time (EDT), which holds the rate without drops.
// Without sch_fq in the kernel it returns nil and the namespace package
// creates the namespace as usual (the limiter's virtual-queue mode).
func prepareEDTNetns(o *options) (*namespace.Handle, error) {
	h, err := newNetns()
	if err != nil {
		return nil, fmt.Errorf("creating the network namespace: %w", err)
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", unix.Getpid(), h.FD())
	if err := cgroup.InstallFQ(path, "lo"); err != nil {
		_ = h.Close()
		return nil, nil // no fq: the virtual-queue mode works on any device
	}
	nh, err := netns.OpenPath(path)
	if err == nil {
		err = netns.LoopbackUp(nh)
		_ = nh.Close()
	}
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("bringing up lo: %w", err)
	}
	o.resources.Network.EDT = true
	return h, nil
}

// newNetns unshares a network namespace on a locked thread that is never
// unlocked, so the Go runtime discards it instead of reusing a thread in
// the wrong namespace, and returns a handle on it.
func newNetns() (*namespace.Handle, error) {
	type res struct {
		h   *namespace.Handle
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // deliberately never unlocked
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- res{err: err}
			return
		}
		h, err := namespace.Current(namespace.NET)
		ch <- res{h, err}
	}()
	r := <-ch
	return r.h, r.err
}
