package netns_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

// Test addresses live only inside namespaces the tests create.
var (
	addrA  = netip.MustParsePrefix("10.201.7.1/30")
	addrB  = netip.MustParsePrefix("10.201.7.2/30")
	addr6A = netip.MustParsePrefix("fd00:c0f1:7::1/64")
	addr6B = netip.MustParsePrefix("fd00:c0f1:7::2/64")
)

// vethPair makes two fresh named namespaces joined by a veth pair.
func vethPair(t *testing.T, mutate func(v *netns.Veth)) (a, b *netns.Handle) {
	t.Helper()
	_, a = newNamed(t)
	_, b = newNamed(t)
	v := netns.Veth{
		MTU: 1400,
		A:   netns.VethEnd{Netns: a, Name: "ct-a", Addrs: []netip.Prefix{addrA, addr6A}},
		B:   netns.VethEnd{Netns: b, Name: "ct-b", Addrs: []netip.Prefix{addrB, addr6B}},
	}
	if mutate != nil {
		mutate(&v)
	}
	if err := netns.CreateVeth(v); err != nil {
		t.Fatalf("CreateVeth: %v", err)
	}
	return a, b
}

func TestVethTCPEcho(t *testing.T) {
	testutil.CheckLeaks(t) // first: its check runs after every other cleanup
	a, b := vethPair(t, nil)
	for _, network := range []string{"tcp4", "tcp6"} {
		dst, src := addrB.Addr(), addrA.Addr()
		if network == "tcp6" {
			dst, src = addr6B.Addr(), addr6A.Addr()
		}
		if from := tcpEcho(t, a, b, network, dst); from != src {
			t.Errorf("%s: connection came from %s, want %s", network, from, src)
		}
	}
	// The pair lives only in those namespaces, with the MTU asked for.
	for _, c := range []struct {
		h    *netns.Handle
		name string
	}{{a, "ct-a"}, {b, "ct-b"}} {
		var mtu int
		err := namespace.Do(func() error {
			ifi, err := net.InterfaceByName(c.name)
			if err == nil {
				mtu = ifi.MTU
			}
			return err
		}, c.h)

		if err != nil || mtu != 1400 {
			t.Errorf("%s in %s: MTU %d, %v; want 1400", c.name, c.h, mtu, err)
		}
		if _, err := net.InterfaceByName(c.name); err == nil {
			t.Errorf("%s visible in the test's own namespace", c.name)
		}
	}
}

// tcpEcho listens inside b, dials from inside a, echoes a message and
// returns the address the connection came from.
func tcpEcho(t *testing.T, a, b *netns.Handle, network string, dst netip.Addr) netip.Addr {
	t.Helper()
	var ln net.Listener
	err := namespace.Do(func() (err error) {
		ln, err = net.Listen(network, netip.AddrPortFrom(dst, 0).String())
		return err
	}, b)

	if err != nil {
		t.Fatalf("listen in %s: %v", b, err)
	}
	// The echo goroutine is waited for: its connection must be closed
	// before the test's leak check runs (counting goroutines alone let a
	// lingering one through when another had exited meanwhile).
	done := make(chan struct{})
	defer func() {
		ln.Close()
		<-done
	}()
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// A plain loop: io.Copy would splice through pooled pipes that
		// outlive the test and look like an fd leak.
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				c.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	var conn net.Conn
	err = namespace.Do(func() (err error) {
		conn, err = net.DialTimeout(network, ln.Addr().String(), 10*time.Second)
		return err
	}, a)

	if err != nil {
		t.Fatalf("%s dial %s from %s: %v", network, ln.Addr(), a, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("hello across the veth " + network)
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("%s echo: %q, %v", network, got, err)
	}
	return conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
}

// TestVethPing sends an ICMP echo request from a raw socket inside a and
// waits for the reply from b's address.
func TestVethPing(t *testing.T) {
	a, _ := vethPair(t, nil)
	var fd int
	err := namespace.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	}, a)

	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	const id, seq = 0xc0f1, 1
	to := &unix.SockaddrInet4{Addr: addrB.Addr().As4()}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(10 * time.Second)
	var sent time.Time
	for {
		if time.Since(sent) > time.Second { // resend like ping(8) does
			if time.Now().After(deadline) {
				t.Fatal("no echo reply within 10s")
			}
			if err := unix.Sendto(fd, icmpEcho(id, seq, []byte("confine")), 0, to); err != nil {
				t.Fatal(err)
			}
			sent = time.Now()
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("waiting for echo reply: %v", err)
		}
		// Raw IPv4 sockets deliver the IP header; skip it.
		ihl := int(buf[0]&0x0f) * 4
		icmp := buf[ihl:n]
		src, _ := from.(*unix.SockaddrInet4)
		if len(icmp) >= 8 && icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id &&
			binary.BigEndian.Uint16(icmp[6:]) == seq &&
			src != nil && src.Addr == addrB.Addr().As4() {
			if !bytes.Equal(icmp[8:], []byte("confine")) {
				t.Fatalf("echo reply payload %q", icmp[8:])
			}
			return
		}
	}
}

// icmpEcho builds an ICMPv4 echo request with a valid checksum.
func icmpEcho(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], payload)
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[2:], ^uint16(sum))
	return b
}

// Routes and a default gateway let b reach a network behind a: here an
// address on a's loopback, outside the veth subnet.
func TestVethRoutes(t *testing.T) {
	behind := netip.MustParseAddr("10.201.99.1")
	a, b := vethPair(t, func(v *netns.Veth) {
		v.B.Gateway = addrA.Addr()
		v.A.Routes = []netns.Route{{Dst: netip.MustParsePrefix("10.201.8.0/24"), Via: addrB.Addr()}}
	})
	if err := netns.LoopbackUp(a); err != nil {
		t.Fatal(err)
	}
	err := namespace.Do(func() error {
		return addLoopbackAddr(behind)
	}, a)

	if err != nil {
		t.Fatal(err)
	}
	if from := tcpEcho(t, b, a, "tcp4", behind); from != addrB.Addr() {
		t.Errorf("connection to %s came from %s, want %s", behind, from, addrB.Addr())
	}
	// A's route is in A's table.
	routes := routeTable(t, a)
	if !bytes.Contains([]byte(routes), []byte("10.201.8.0/24 via 10.201.7.2")) {
		t.Fatalf("routes in a:\n%s", routes)
	}
}

// CreateVeth removes the pair again when a later step fails: here a
// route via a gateway that no link can reach.
func TestCreateVethRollsBack(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	err := netns.CreateVeth(netns.Veth{
		A: netns.VethEnd{Netns: a, Name: "ct-a", Addrs: []netip.Prefix{addrA}},
		B: netns.VethEnd{Netns: b, Name: "ct-b", Gateway: netip.MustParseAddr("10.201.250.1")},
	})
	var oe *netns.StepError
	if !errors.As(err, &oe) || !errors.Is(err, unix.ENETUNREACH) {
		t.Fatalf("CreateVeth with unreachable gateway = %v, want *StepError wrapping ENETUNREACH", err)
	}
	for _, h := range []*netns.Handle{a, b} {
		if links := linkState(t, h); len(links) != 1 {
			t.Fatalf("after failed CreateVeth %s has links %v, want only lo", h, links)
		}
	}
	// A taken name in b fails in the kernel, before anything exists in a.
	if err := netns.CreateVeth(netns.Veth{
		A: netns.VethEnd{Netns: a, Name: "ct-a"},
		B: netns.VethEnd{Netns: b, Name: "lo"},
	}); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("CreateVeth onto b's lo = %v, want EEXIST", err)
	}
	if links := linkState(t, a); len(links) != 1 {
		t.Fatalf("after EEXIST %s has links %v, want only lo", a, links)
	}
}

func TestDeleteLinkRemovesBothEnds(t *testing.T) {
	a, b := vethPair(t, nil)
	if err := netns.DeleteLink(b, "ct-b"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*netns.Handle{a, b} {
		if links := linkState(t, h); len(links) != 1 {
			t.Fatalf("after DeleteLink %s has links %v", h, links)
		}
	}
	if err := netns.DeleteLink(b, "ct-b"); err == nil {
		t.Fatal("deleting a missing link succeeded")
	}
}

// addLoopbackAddr adds ip/32 to lo of the calling thread's namespace
// (call it inside netns.Do).
func addLoopbackAddr(ip netip.Addr) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}})
}

// routeTable lists h's IPv4 routes as "DST via GW" lines.
func routeTable(t *testing.T, h *netns.Handle) string {
	t.Helper()
	var sb strings.Builder
	err := namespace.Do(func() error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			fmt.Fprintf(&sb, "%v via %v\n", r.Dst, r.Gw)
		}
		return err
	}, h)

	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}
