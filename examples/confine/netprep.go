package main

import (
	"fmt"

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
	h, err := namespace.New(namespace.NET)
	if err != nil {
		return nil, fmt.Errorf("creating the network namespace: %w", err)
	}
	if err := netns.InstallFQ(h, "lo"); err != nil {
		_ = h.Close()
		return nil, nil // no fq: the virtual-queue mode works on any device
	}
	if err := netns.LoopbackUp(h); err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("bringing up lo: %w", err)
	}
	o.resources.Network.EDT = true
	return h, nil
}
