package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Veth describes a veth pair between two network namespaces. Zero values
// mean "kernel default" (MTU) or "none" (addresses, routes, gateway).
type Veth struct {
	// MTU of both ends: 0 keeps the kernel default (1500), else 68-65535.
	MTU int
	// A and B are the two ends; the pair is created through A's
	// namespace with B's end placed in B.Netns from the start.
	A, B VethEnd
}

// VethEnd is one end of a veth pair: where it lives and how it is set up.
type VethEnd struct {
	// Netns is the namespace this end lives in (required). It may be the
	// same namespace as the other end's if the names differ.
	Netns *Handle
	// Name is the interface name, 1-15 bytes (required).
	Name string
	// Addrs are assigned to the interface, e.g. 10.10.0.1/24 or
	// fd00::1/64. IPv6 addresses skip duplicate address detection so they
	// work as soon as CreateVeth returns.
	Addrs []netip.Prefix
	// Routes are added through this interface after it is up.
	Routes []Route
	// Gateway, when valid, adds a default route via it through this
	// interface (0.0.0.0/0 or ::/0 by its family).
	Gateway netip.Addr
}

// Route is a route through a veth end.
type Route struct {
	// Dst is the destination network; it must be masked (10.1.0.0/16,
	// not 10.1.2.3/16).
	Dst netip.Prefix
	// Via is the next hop. The zero value makes Dst directly reachable on
	// the link.
	Via netip.Addr
}

// CreateVeth creates the veth pair v (end B is created directly inside
// B.Netns), assigns addresses, sets both ends up, waits until both carry
// traffic (IFF_RUNNING) and adds the routes. The whole
// value is validated first; if a later step fails the pair is deleted, so
// nothing half-configured stays behind. Delete it with DeleteLink on
// either end, or by deleting a namespace it lives in.
func CreateVeth(v Veth) error {
	if err := v.validate(); err != nil {
		return err
	}
	nhA, err := netlinkAt(v.A.Netns)
	if err != nil {
		return err
	}
	defer nhA.Close()
	nhB, err := netlinkAt(v.B.Netns)
	if err != nil {
		return err
	}
	defer nhB.Close()

	link := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: v.A.Name, MTU: v.MTU},
		PeerName:  v.B.Name,
		PeerMTU:   uint32(v.MTU),
	}
	err = v.B.Netns.Control(func(fd int) error {
		link.PeerNamespace = netlink.NsFd(fd)
		return nhA.LinkAdd(link)
	})
	if err != nil {
		return opErr("creating veth", v.A.Name+"/"+v.B.Name, err)
	}
	if err := configure(nhA, nhB, v); err != nil {
		if derr := nhA.LinkDel(link); derr != nil {
			err = errors.Join(err, opErr("deleting veth after failure", v.A.Name, derr))
		}
		return err
	}
	return nil
}

// configure sets addresses and brings both ends up, waits until both
// carry traffic, then adds routes, since a route via a gateway needs the
// gateway's subnet on an up link.
func configure(nhA, nhB *netlink.Handle, v Veth) error {
	wA, err := openLinkWatch(v.A.Netns)
	if err != nil {
		return err
	}
	defer wA.Close()
	wB, err := openLinkWatch(v.B.Netns)
	if err != nil {
		return err
	}
	defer wB.Close()
	la, err := setUp(nhA, v.A)
	if err != nil {
		return err
	}
	lb, err := setUp(nhB, v.B)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(runningTimeout)
	if err := wA.waitRunning(nhA, la, deadline); err != nil {
		return opErr("waiting for carrier on", v.A.Name, err)
	}
	if err := wB.waitRunning(nhB, lb, deadline); err != nil {
		return opErr("waiting for carrier on", v.B.Name, err)
	}
	if err := addRoutes(nhA, la, v.A); err != nil {
		return err
	}
	return addRoutes(nhB, lb, v.B)
}

func setUp(nh *netlink.Handle, e VethEnd) (netlink.Link, error) {
	link, err := nh.LinkByName(e.Name)
	if err != nil {
		return nil, opErr("finding link", e.Name, err)
	}
	for _, p := range e.Addrs {
		addr := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := nh.AddrAdd(link, addr); err != nil {
			return nil, opErr("adding address "+p.String()+" to", e.Name, err)
		}
	}
	if err := nh.LinkSetUp(link); err != nil {
		return nil, opErr("setting up", e.Name, err)
	}
	return link, nil
}

func addRoutes(nh *netlink.Handle, link netlink.Link, e VethEnd) error {
	routes := e.Routes
	if e.Gateway.IsValid() {
		def := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if e.Gateway.Is6() {
			def = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		routes = append(routes[:len(routes):len(routes)], Route{Dst: def, Via: e.Gateway})
	}
	for _, r := range routes {
		nr := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(r.Dst)}
		if r.Via.IsValid() {
			nr.Gw = net.IP(r.Via.AsSlice())
		} else {
			nr.Scope = netlink.SCOPE_LINK
		}
		if err := nh.RouteAdd(nr); err != nil {
			return opErr("adding route "+r.String()+" on", e.Name, err)
		}
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}

// String formats the route like `ip route`: "10.1.0.0/16 via 10.0.0.1".
func (r Route) String() string {
	if r.Via.IsValid() {
		return r.Dst.String() + " via " + r.Via.String()
	}
	return r.Dst.String()
}

func (v Veth) validate() error {
	if v.MTU != 0 && (v.MTU < 68 || v.MTU > 65535) {
		return invalid("Veth.MTU", strconv.Itoa(v.MTU), "must be 0 (default) or 68-65535")
	}
	if err := v.A.validate("Veth.A"); err != nil {
		return err
	}
	if err := v.B.validate("Veth.B"); err != nil {
		return err
	}
	if v.A.Name == v.B.Name && v.A.Netns.Equal(v.B.Netns) {
		return invalid("Veth.B.Name", v.B.Name, "same name as Veth.A.Name in the same namespace")
	}
	return nil
}

func (e VethEnd) validate(field string) error {
	if e.Netns == nil || e.Netns.FD() < 0 {
		return invalid(field+".Netns", e.Netns.String(), "must be an open handle")
	}
	if err := validateIfName(field+".Name", e.Name); err != nil {
		return err
	}
	for i, p := range e.Addrs {
		f := fmt.Sprintf("%s.Addrs[%d]", field, i)
		if err := validPrefix(f, p); err != nil {
			return err
		}
	}
	for i, r := range e.Routes {
		f := fmt.Sprintf("%s.Routes[%d]", field, i)
		if err := r.validate(f); err != nil {
			return err
		}
	}
	if e.Gateway.IsValid() {
		return validAddr(field+".Gateway", e.Gateway)
	}
	return nil
}

func (r Route) validate(field string) error {
	if err := validPrefix(field+".Dst", r.Dst); err != nil {
		return err
	}
	if r.Dst != r.Dst.Masked() {
		return invalid(field+".Dst", r.Dst.String(), "host bits set; want "+r.Dst.Masked().String())
	}
	if !r.Via.IsValid() {
		return nil
	}
	if err := validAddr(field+".Via", r.Via); err != nil {
		return err
	}
	if r.Via.Is4() != r.Dst.Addr().Is4() {
		return invalid(field+".Via", r.Via.String(), "address family differs from Dst "+r.Dst.String())
	}
	return nil
}

func validAddr(field string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return invalid(field, "", "invalid or missing address")
	case a.Is4In6():
		return invalid(field, a.String(), "IPv4-mapped IPv6 address; use the IPv4 form")
	case a.Zone() != "":
		return invalid(field, a.String(), "zoned address not allowed")
	}
	return nil
}

func validPrefix(field string, p netip.Prefix) error {
	if !p.IsValid() {
		return invalid(field, p.String(), "invalid or missing CIDR prefix")
	}
	return validAddr(field, p.Addr())
}
