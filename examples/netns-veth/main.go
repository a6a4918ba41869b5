// Command netns-veth shows package netns end to end: it creates two named
// network namespaces (visible to `ip netns list` while it runs), brings
// their loopback up, joins them with a veth pair addressed 10.203.0.1/30
// and 10.203.0.2/30, runs a TCP echo server inside one and a client inside
// the other, prints what it did, and deletes everything again on exit,
// on error, and on SIGINT or SIGTERM.
//
// Run it as root (it needs CAP_SYS_ADMIN and CAP_NET_ADMIN):
//
//	go build -o /tmp/netns-veth ./examples/netns-veth && sudo /tmp/netns-veth
//	sudo /tmp/netns-veth -hold 30s   # keep it up to look around:
//	                                 # ip netns exec confine-demo-PID-a ip addr
//
// Traffic stays inside the two namespaces it creates.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

var (
	addrA = netip.MustParsePrefix("10.203.0.1/30")
	addrB = netip.MustParsePrefix("10.203.0.2/30")
)

func main() {
	hold := flag.Duration("hold", 0, "keep the namespaces up this long before cleaning up (a signal ends it early)")
	msg := flag.String("message", "hello from the other namespace", "text to echo across the veth pair")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, *msg, *hold)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netns-veth:", err)
		os.Exit(1)
	}
}

// run does the demo; every step that creates something registers its
// undo with defer, so any return path (error, signal) cleans up.
func run(ctx context.Context, out io.Writer, msg string, hold time.Duration) (err error) {
	prefix := fmt.Sprintf("confine-demo-%d", os.Getpid())
	a, err := create(out, prefix+"-a")
	if err != nil {
		return err
	}
	defer remove(out, prefix+"-a", a, &err)
	b, err := create(out, prefix+"-b")
	if err != nil {
		return err
	}
	defer remove(out, prefix+"-b", b, &err)

	veth := netns.Veth{
		A: netns.VethEnd{Netns: a, Name: "demo-a", Addrs: []netip.Prefix{addrA}},
		B: netns.VethEnd{Netns: b, Name: "demo-b", Addrs: []netip.Prefix{addrB}},
	}
	if err := netns.CreateVeth(veth); err != nil {
		return err
	}
	fmt.Fprintf(out, "veth demo-a (%s, in %s-a) <-> demo-b (%s, in %s-b)\n", addrA, prefix, addrB, prefix)

	if err := echo(ctx, out, a, b, msg); err != nil {
		return err
	}
	if hold > 0 {
		fmt.Fprintf(out, "holding for %s (Ctrl-C to stop)\n", hold)
		select {
		case <-ctx.Done():
		case <-time.After(hold):
		}
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}

// create makes a named namespace with loopback up.
func create(out io.Writer, name string) (*netns.Handle, error) {
	h, err := netns.Create(name)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "created netns %s (%s)\n", name, h)
	if err := netns.LoopbackUp(h); err != nil {
		remove(out, name, h, &err)
		return nil, err
	}
	return h, nil
}

// remove closes the handle and deletes the name; the veth end inside goes
// with the namespace. A failure is joined to *errp.
func remove(out io.Writer, name string, h *netns.Handle, errp *error) {
	h.Close()
	if err := netns.Delete(name); err != nil {
		*errp = errors.Join(*errp, err)
		return
	}
	fmt.Fprintf(out, "deleted netns %s\n", name)
}

// echo serves TCP echo inside b on addrB and talks to it from inside a.
func echo(ctx context.Context, out io.Writer, a, b *netns.Handle, msg string) error {
	var ln net.Listener
	err := namespace.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(addrB.Addr(), 0).String())
		return err
	}, b)

	if err != nil {
		return err
	}
	defer ln.Close()
	go serveEcho(ln)
	fmt.Fprintf(out, "echo server listening on %s inside %s\n", ln.Addr(), b)

	var conn net.Conn
	err = namespace.Do(func() (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp4", ln.Addr().String())
		return err
	}, a)

	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	start := time.Now()
	if _, err := io.WriteString(conn, msg); err != nil {
		return err
	}
	reply := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, reply); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s -> %s: sent %q, echoed %q in %s\n",
		conn.LocalAddr(), conn.RemoteAddr(), msg, reply, time.Since(start).Round(time.Microsecond))
	return nil
}

// serveEcho echoes each connection until the listener closes.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
