package netns

import (
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkAt returns an rtnetlink handle whose socket lives in h. The
// socket is created inside Do, so no thread other than Do's own ever
// changes namespace, and later requests on it need no thread switching.
func netlinkAt(h *Handle) (*netlink.Handle, error) {
	var nh *netlink.Handle
	err := inNetns(h, func() error {
		var err error
		nh, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, opErr("opening rtnetlink socket in", h.String(), err)
	}
	return nh, nil
}

// LoopbackUp sets the loopback interface "lo" of namespace h up. A new
// network namespace starts with it down, which breaks 127.0.0.1.
func LoopbackUp(h *Handle) error {
	nh, err := netlinkAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		return opErr("finding lo in", h.String(), err)
	}
	return opErr("setting lo up in", h.String(), nh.LinkSetUp(lo))
}

// DeleteLink deletes the interface called name in namespace h. Deleting
// one end of a veth pair deletes both.
func DeleteLink(h *Handle, name string) error {
	if err := validateIfName("name", name); err != nil {
		return err
	}
	nh, err := netlinkAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	link, err := nh.LinkByName(name)
	if err != nil {
		return opErr("finding link", name, err)
	}
	return opErr("deleting link", name, nh.LinkDel(link))
}

// validateIfName applies the kernel's dev_valid_name rules.
func validateIfName(field, name string) error {
	bad := func(reason string) error { return invalid(field, name, reason) }
	switch {
	case name == "" || len(name) >= unix.IFNAMSIZ:
		return bad("must be 1 to 15 bytes")
	case name == "." || name == "..":
		return bad("must not be . or ..")
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '/' || c == ':' || c <= ' ' || c == 0x7f:
			return bad("must not contain '/', ':', whitespace or control characters")
		}
	}
	return nil
}
