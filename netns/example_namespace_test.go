package netns_test

import (
	"log"
	"os"

	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

// Start a command inside a named network namespace through namespace.Cmd.
// The program's main must call namespace.Init first.
func ExampleHandle_Namespace() {
	h, err := netns.OpenName("demo") // made by netns.Create or `ip netns add`
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	nh, err := h.Namespace()
	if err != nil {
		log.Fatal(err)
	}
	defer nh.Close()
	c := &namespace.Cmd{Path: "ip", Args: []string{"ip", "addr"}, Join: []*namespace.Handle{nh}, Stdout: os.Stdout}
	if _, err := c.Run(); err != nil {
		log.Fatal(err)
	}
}
