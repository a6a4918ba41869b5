package cgroup

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// InstallFQ replaces the root qdisc of the device named link, in the
// network namespace at netnsPath ("" for the caller's), with fq, which
// Network.EDT needs to hold packets until their departure time. A kernel
// without sch_fq gives an error matching ErrNotSupported.
func InstallFQ(netnsPath, link string) error {
	h := &netlink.Handle{}
	if netnsPath != "" {
		ns, err := netns.GetFromPath(netnsPath)
		if err != nil {
			return fmt.Errorf("installing fq: opening netns %s: %w", netnsPath, err)
		}
		defer ns.Close()
		if h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("installing fq: %w", err)
		}
		defer h.Close()
	}
	l, err := h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("installing fq: finding link %q: %w", link, err)
	}
	fq := netlink.NewFq(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index,
		Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
	if err := h.QdiscReplace(fq); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return &internal.UnsupportedError{Feature: "fq qdisc", Reason: "sch_fq not available", Err: err}
		}
		return fmt.Errorf("installing fq on %s: %w", link, err)
	}
	return nil
}
