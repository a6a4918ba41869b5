package netns_test

import (
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

// Create a named namespace (visible to `ip netns list`), use it, delete it.
func ExampleCreate() {
	h, err := netns.Create("demo")
	if err != nil {
		log.Fatal(err)
	}
	defer netns.Delete("demo")
	defer h.Close()
	if err := netns.LoopbackUp(h); err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", h)
}

// Listen on a socket inside a namespace; the socket stays in it and can
// be used from any goroutine afterwards.
func ExampleDo() {
	h, err := netns.OpenName("demo")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	var ln net.Listener
	err = namespace.Do(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:8080")
		return err
	}, h)

	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
}

// Join two namespaces with a veth pair, 10.0.0.1/24 on one side and
// 10.0.0.2/24 on the other with a default route back.
func ExampleCreateVeth() {
	a, err := netns.OpenName("left")
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := netns.OpenName("right")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	err = netns.CreateVeth(netns.Veth{
		A: netns.VethEnd{Netns: a, Name: "veth-left",
			Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		B: netns.VethEnd{Netns: b, Name: "veth-right",
			Addrs:   []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
			Gateway: netip.MustParseAddr("10.0.0.1")},
	})
	if err != nil {
		log.Fatal(err)
	}
}
