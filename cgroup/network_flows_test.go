package cgroup

import (
	"sync"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

// Many flows in one cgroup: the limiter gives each TCP socket a tail of
// its own at an equal share of the rate (bwprog's fair shares), and the
// flows beyond their share meet the signals and drops. How evenly they
// end up sharing is still up to their congestion controls. These tests
// and BenchmarkNetworkAccuracy's -bw.flows measure it.

// jain is Jain's fairness index of x: 1 when all are equal, 1/n when one
// takes everything.
func jain(x []float64) float64 {
	var sum, sq float64
	for _, v := range x {
		sum += v
		sq += v * v
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(x)) * sq)
}

// parallel starts n bulk flows (tags 'A'...) from cgroup dir for secs and
// returns each one's goodput over [from, to), in bytes/s.
func (b *bed) parallel(t testing.TB, dir string, n int, secs float64, from, to time.Duration) []float64 {
	t.Helper()
	cls := make([]*client, n)
	for i := range n {
		cls[i] = b.startClient(t, dir, byte('A'+i), secs, 0)
	}
	got := make([]float64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i] = b.measure(byte('A'+i), from, to) })
	}
	wg.Wait()
	for _, c := range cls {
		c.wait(t)
	}
	return got
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

// TestNetworkFlows: 4 parallel TCP flows from one cgroup limited to
// 100 Mbit/s. The aggregate is within ccSlack of the ideal for cubic and
// BBR. Cubic's flows share: Jain's index over 8 s >= 0.65 (with fair
// shares it read 0.976-0.989 in four runs on one host, and 0.84-1.00,
// median 0.98, in 21 runs with 67 ms flow epochs; 0.76-0.97, median 0.89,
// in 11 runs with tcpRoom alone; 0.47 before tcpRoom, one flow at 0.5% of
// the rate: the bound sits below all of them, with room for a slower
// host). BBR's flows (0.27-1.00, bimodal) are not evened out: logged, not
// asserted (see bwprog's tcpRoom for why).
func TestNetworkFlows(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const rate, n, window = 100e6, 4, 8 * time.Second
	for _, cc := range []string{"cubic", "bbr"} {
		t.Run(cc, func(t *testing.T) {
			requireCC(t, cc)
			b.cc = cc
			defer func() { b.cc = "" }()
			c := limitedCgroup(t, &Network{EgressRate: rate})
			from := 1500 * time.Millisecond
			got := b.parallel(t, c.path, n, (from + window + 500*time.Millisecond).Seconds(), from, from+window)
			agg := sum(got) / idealGoodput(rate)
			j := jain(got)
			low, high := ccSlack(dirConfig(rate, 0, false), window)
			shares := make([]float64, n)
			for i, g := range got {
				shares[i] = 100 * g / sum(got)
			}
			t.Logf("%s: aggregate %.2f%% of ideal (want %.1f-%.1f%%), Jain %.3f, shares %.1f%%", cc, 100*agg, 100*low, 100*high, j, shares)
			if cc == "cubic" && j < 0.65 {
				t.Errorf("Jain's index %.3f, want >= 0.65 (shares %.1f%%)", j, shares)
			}
			if agg < low || agg > high {
				t.Errorf("aggregate %.1f%% of ideal, want %.1f-%.1f%%", 100*agg, 100*low, 100*high)
			}
		})
	}
}

// TestNetworkFlowJoins: a flow that starts beside a bulk flow running for
// 3 s gets its share within 1 s: over the second from 1 s after its start,
// at least 10% of an equal share. Cubic's newcomer got 0.5% before
// bwprog's tcpRoom; 19-148% with tcpRoom alone (19% in one CI run on
// another host, 37% at worst in 14 runs here); with fair shares 107-167%
// in four runs, 35-188% (median 123%) in 21 runs with 67 ms flow epochs.
// The bound guards against starvation, the failure this test exists for,
// with room for slower hosts. Asserted for cubic; a BBR newcomer ramps up
// by its own startup probing (11-98%) and is logged, like BBR's fairness
// in TestNetworkFlows. How evenly the two share afterwards is logged
// (Jain 0.99-1.00 in those four runs; 0.81-0.99 with tcpRoom alone).
func TestNetworkFlowJoins(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const rate = 100e6
	for _, cc := range []string{"cubic", "bbr"} {
		t.Run(cc, func(t *testing.T) {
			requireCC(t, cc)
			b.cc = cc
			defer func() { b.cc = "" }()
			c := limitedCgroup(t, &Network{EgressRate: rate})
			a := b.startClient(t, c.path, 'A', 9, 0)
			time.Sleep(3 * time.Second)
			nb := b.startClient(t, c.path, 'B', 6, 0)
			var first, aLater, bLater float64
			var wg sync.WaitGroup
			wg.Go(func() { aLater = b.measure('A', 2*time.Second, 5500*time.Millisecond) })
			wg.Go(func() {
				first = b.measure('B', time.Second, 2*time.Second)
				bLater = b.measure('B', 0, 3500*time.Millisecond)
			})
			wg.Wait()
			a.wait(t)
			nb.wait(t)
			share := first / (idealGoodput(rate) / 2)
			j := jain([]float64{aLater, bLater})
			t.Logf("%s: the new flow got %.1f%% of an equal share in its second second; then A %.1f%% B %.1f%% of ideal, Jain %.3f",
				cc, 100*share, 100*aLater/idealGoodput(rate), 100*bLater/idealGoodput(rate), j)
			if cc == "cubic" && share < 0.10 {
				t.Errorf("new flow: %.1f%% of an equal share 1-2 s after it started, want >= 10%%", 100*share)
			}
		})
	}
}
