package netns

import (
	"errors"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// InstallFQ replaces the root qdisc of the device named link in namespace
// h with fq, which cgroup.Network.EDT needs to hold packets until their
// departure time. A kernel without sch_fq gives an *UnsupportedError
// (matching ErrNotSupported).
func InstallFQ(h *Handle, link string) error {
	nh, err := netlinkAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	l, err := nh.LinkByName(link)
	if err != nil {
		return opErr("finding link for fq", link, err)
	}
	fq := netlink.NewFq(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index,
		Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
	if err := nh.QdiscReplace(fq); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return &internal.UnsupportedError{Feature: "fq qdisc", Reason: "sch_fq not available", Err: err}
		}
		return opErr("installing fq on", link, err)
	}
	return nil
}
