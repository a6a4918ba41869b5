package netns_test

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

// BenchmarkCreateDelete measures one named namespace's life: Create,
// Close, Delete.
func BenchmarkCreateDelete(b *testing.B) {
	testutil.RequireRoot(b)
	newNamed(b) // /run/netns set up outside the loop
	prefix := testName() + "-"
	i := 0
	for b.Loop() {
		i++
		name := prefix + itoa(i)
		h, err := netns.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
		if err := netns.Delete(name); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIPNetnsAddDelete is the same cycle with iproute2, for
// comparison in the same run.
func BenchmarkIPNetnsAddDelete(b *testing.B) {
	testutil.RequireRoot(b)
	ip, err := exec.LookPath("ip")
	if err != nil {
		b.Skip("no ip command")
	}
	newNamed(b)
	name := testName()
	for b.Loop() {
		if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
			b.Fatalf("ip netns add: %v: %s", err, out)
		}
		if out, err := exec.Command(ip, "netns", "delete", name).CombinedOutput(); err != nil {
			b.Fatalf("ip netns delete: %v: %s", err, out)
		}
	}
}

// BenchmarkDo measures entering a namespace and coming back.
func BenchmarkDo(b *testing.B) {
	_, h := newNamed(b)
	fn := func() error { return nil }
	for b.Loop() {
		if err := namespace.Do(fn, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateVeth measures creating a configured veth pair (both ends
// addressed, up and carrying traffic) and deleting it; create-ns/op is
// the CreateVeth part alone.
func BenchmarkCreateVeth(b *testing.B) {
	_, ha := newNamed(b)
	_, hb := newNamed(b)
	v := netns.Veth{
		A: netns.VethEnd{Netns: ha, Name: "bench-a", Addrs: []netip.Prefix{addrA}},
		B: netns.VethEnd{Netns: hb, Name: "bench-b", Addrs: []netip.Prefix{addrB}},
	}
	var create time.Duration
	for b.Loop() {
		start := time.Now()
		if err := netns.CreateVeth(v); err != nil {
			b.Fatal(err)
		}
		create += time.Since(start)
		if err := netns.DeleteLink(ha, "bench-a"); err != nil {
			b.Fatal(err)
		}
	}
	// Deleting waits for the kernel's RCU grace periods and dominates.
	b.ReportMetric(float64(create.Nanoseconds())/float64(b.N), "create-ns/op")
}
