package cgroup_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/netns"
)

// Parse rates as users write them: tc units, plain bits/s and Kubernetes
// bandwidth annotations.
func ExampleParseRate() {
	for _, s := range []string{"10mbit", "1gbit", "500kbit", "250000", "10M", "1mbps", "0", "10parsecs"} {
		bps, err := cgroup.ParseRate(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, "=", bps, "bit/s =", cgroup.FormatRate(bps))
	}
	// Output:
	// 10mbit = 10000000 bit/s = 10mbit
	// 1gbit = 1000000000 bit/s = 1gbit
	// 500kbit = 500000 bit/s = 500kbit
	// 250000 = 250000 bit/s = 250kbit
	// 10M = 10000000 bit/s = 10mbit
	// 1mbps = 8000000 bit/s = 8mbit
	// cgroup: rate "0": rate must be at least 1 bit/s
	// cgroup: rate "10parsecs": unknown unit
}

// Limit a cgroup's sockets to 10 Mbit/s out and 50 Mbit/s in, raise the
// egress limit live, read the counters, and remove the limiter with the
// cgroup. Needs root, cgroup v2, a BPF filesystem at /sys/fs/bpf and Linux
// 5.12.
func ExampleNetwork() {
	egress, err := cgroup.ParseRate("10mbit")
	if err != nil {
		log.Fatal(err)
	}
	cg, err := cgroup.New("example/web", cgroup.Resources{
		Network: &cgroup.Network{EgressRate: egress, IngressRate: 50e6},
	})
	if errors.Is(err, cgroup.ErrNotSupported) {
		log.Fatal("no eBPF bandwidth limiter here: ", err)
	} else if err != nil {
		log.Fatal(err)
	}
	defer cg.Delete() // detaches the programs and removes the pins

	// ... start processes in cg (cg.FD() with CLONE_INTO_CGROUP) ...

	// A live change: one map update, nothing is detached. Both rates are
	// given: a direction left at 0 becomes unlimited.
	if err := cg.Apply(cgroup.Resources{
		Network: &cgroup.Network{EgressRate: 20e6, IngressRate: 50e6},
	}); err != nil {
		log.Fatal(err)
	}
	var s cgroup.Stats
	if err := cg.Stats(&s, cgroup.StatNetwork); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent %d bytes, %d packets marked, %d dropped\n",
		s.Network.Egress.Bytes, s.Network.Egress.Marked, s.Network.Egress.DroppedPackets)
}

// Pace a sandbox's egress with earliest departure times: install fq on the
// device its traffic leaves through (here eth0 in the named network
// namespace "sandbox"), then ask for EDT mode. Without fq, use the default
// virtual-queue mode instead.
func ExampleNetwork_edt() {
	mode := &cgroup.Network{EgressRate: 100e6, EDT: true}
	h, err := netns.OpenName("sandbox")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := netns.InstallFQ(h, "eth0"); errors.Is(err, cgroup.ErrNotSupported) {
		mode.EDT = false // no sch_fq in this kernel
	} else if err != nil {
		log.Fatal(err)
	}
	cg, err := cgroup.New("example/sandbox", cgroup.Resources{Network: mode})
	if err != nil {
		log.Fatal(err)
	}
	defer cg.Delete()
}
