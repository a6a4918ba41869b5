package cgroup

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// Many flows in one cgroup: the limiter gives each TCP socket a tail of
// its own at an equal share of the rate (bwprog's fair shares), and caps
// each socket's pacing rate at its share of Config.PaceRate, so that TCP
// itself spaces the packets of each flow at its share. These tests and
// BenchmarkNetworkAccuracy's -bw.flows measure how evenly they share.

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
// returns each one's goodput over [from, to), in bytes/s, and what each
// client reported at its end.
func (b *bed) parallel(t testing.TB, dir string, n int, secs float64, from, to time.Duration) ([]float64, []clientResult) {
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
	res := make([]clientResult, n)
	for i, c := range cls {
		res[i] = c.wait(t)
	}
	return got, res
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

// TestNetworkFlows: 4 and 16 parallel TCP flows from one cgroup limited
// to 100 Mbit/s, cubic and BBR. The aggregate is within ccSlack of the
// ideal, the flows share evenly (Jain's index over 10 s >= 0.9), and each
// socket's pacing cap (TCP_INFO's max pacing rate at its end) is its share
// of Config.PaceRate: the kernel paced it. With the caps, 4 flows read
// 0.993-1.000 and 16 flows 0.983-1.000 (cubic and BBR); without them
// (fair-share tails alone) 16 flows read 0.44-0.68 for cubic and 0.18-0.46
// for BBR, and before fair shares 4 cubic flows 0.47. The bound leaves
// room for a slower host.
func TestNetworkFlows(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const rate, window = 100e6, 10 * time.Second
	for _, n := range []int{4, 16} {
		for _, cc := range []string{"cubic", "bbr"} {
			t.Run(fmt.Sprintf("%d-%s", n, cc), func(t *testing.T) {
				requireCC(t, cc)
				b.cc = cc
				defer func() { b.cc = "" }()
				c := limitedCgroup(t, &Network{EgressRate: rate})
				from := 1500 * time.Millisecond
				got, res := b.parallel(t, c.path, n, (from + window + 500*time.Millisecond).Seconds(), from, from+window)
				agg := sum(got) / idealGoodput(rate)
				j := jain(got)
				low, high := ccSlack(dirConfig(rate, 0, false), window)
				shares := make([]float64, n)
				for i, g := range got {
					shares[i] = 100 * g / sum(got)
				}
				t.Logf("aggregate %.2f%% of ideal (want %.1f-%.1f%%), Jain %.3f, shares %.1f%%", 100*agg, 100*low, 100*high, j, shares)
				if j < 0.9 {
					t.Errorf("Jain's index %.3f, want >= 0.9 (shares %.1f%%)", j, shares)
				}
				if agg < low || agg > high {
					t.Errorf("aggregate %.1f%% of ideal, want %.1f-%.1f%%", 100*agg, 100*low, 100*high)
				}
				share := float64(dirConfig(rate, 0, false).PaceRate) / float64(n)
				for i, r := range res {
					if p := float64(r.MaxPace); p < share/2 || p > 2*share {
						t.Errorf("flow %c: pacing cap %.0f bytes/s at its end, want about its share %.0f", 'A'+i, p, share)
					}
				}
			})
		}
	}
}

// TestNetworkFlowsBelowShare: a flow that sends less than its share (paced
// by itself at a tenth of the rate) leaves the rest to a greedy flow
// beside it: only flows beyond their share divide Config.PaceRate, so the
// aggregate stays in the band (it read 97.6% for cubic and 98.6% for BBR,
// with the greedy flow capped at 1.25x the rate; without the caps 98.2%
// and 98.9%).
func TestNetworkFlowsBelowShare(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const rate, window = 100e6, 8 * time.Second
	for _, cc := range []string{"cubic", "bbr"} {
		t.Run(cc, func(t *testing.T) {
			requireCC(t, cc)
			b.cc = cc
			defer func() { b.cc = "" }()
			c := limitedCgroup(t, &Network{EgressRate: rate})
			from := 1500 * time.Millisecond
			secs := (from + window + 500*time.Millisecond).Seconds()
			slow := b.startProbedClient(t, c.path, 'A', secs, probes{}, rate/8/10)
			greedy := b.startClient(t, c.path, 'B', secs, 0)
			var a, g float64
			var wg sync.WaitGroup
			wg.Go(func() { a = b.measure('A', from, from+window) })
			wg.Go(func() { g = b.measure('B', from, from+window) })
			wg.Wait()
			slow.wait(t)
			greedy.wait(t)
			agg := (a + g) / idealGoodput(rate)
			low, high := ccSlack(dirConfig(rate, 0, false), window)
			t.Logf("slow flow %.1f%%, greedy flow %.1f%%, aggregate %.2f%% of ideal (want %.1f-%.1f%%)",
				100*a/idealGoodput(rate), 100*g/idealGoodput(rate), 100*agg, 100*low, 100*high)
			if agg < low || agg > high {
				t.Errorf("aggregate %.1f%% of ideal, want %.1f-%.1f%%", 100*agg, 100*low, 100*high)
			}
		})
	}
}

// TestNetworkPacingFollowsLimit: a socket's pacing cap follows the
// cgroup's limit while it runs: lowered with the rate, and lifted (back to
// unlimited) when the limit is removed.
func TestNetworkPacingFollowsLimit(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	for _, tc := range []struct {
		name  string
		after Network
		want  uint64
	}{
		{"lowered", Network{EgressRate: 20e6}, dirConfig(20e6, 0, false).PaceRate},
		{"lifted", Network{}, ^uint64(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := limitedCgroup(t, &Network{EgressRate: 100e6})
			cl := b.startClient(t, c.path, 'A', 3, 0)
			time.Sleep(1500 * time.Millisecond)
			if err := c.applyNetwork(&tc.after); err != nil {
				t.Fatal(err)
			}
			r := cl.wait(t)
			if r.MaxPace != tc.want {
				t.Errorf("pacing cap %d bytes/s at the end, want %d", r.MaxPace, tc.want)
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
//
// The same for downloads into a cgroup limited on ingress, where the
// newcomer cannot be paced and gets its share only because the drops fall
// on the flow beyond its fair share (ingressConfig): asserted for cubic
// and BBR senders alike (in four runs cubic's newcomer got 99.7-100.1% of
// an equal share, BBR's 98.6-114%; Jain 0.999-1.000 afterwards).
func TestNetworkFlowJoins(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const rate = 100e6
	for _, dir := range []bwprog.Direction{bwprog.Egress, bwprog.Ingress} {
		for _, cc := range []string{"cubic", "bbr"} {
			t.Run(dir.String()+"-"+cc, func(t *testing.T) {
				requireCC(t, cc)
				var first, aLater, bLater float64
				if dir == bwprog.Egress {
					first, aLater, bLater = b.joinUpload(t, cc, rate)
				} else {
					first, aLater, bLater = b.joinDownload(t, cc, rate)
				}
				share := first / (idealGoodput(rate) / 2)
				t.Logf("%s %s: the new flow got %.1f%% of an equal share in its second second; then A %.1f%% B %.1f%% of ideal, Jain %.3f",
					dir, cc, 100*share, 100*aLater/idealGoodput(rate), 100*bLater/idealGoodput(rate), jain([]float64{aLater, bLater}))
				if (cc == "cubic" || dir == bwprog.Ingress) && share < 0.10 {
					t.Errorf("new flow: %.1f%% of an equal share 1-2 s after it started, want >= 10%%", 100*share)
				}
			})
		}
	}
}

// joinUpload starts flow B from a cgroup limited to rate on egress 3 s
// after flow A, and returns B's goodput over its second second, then both
// flows' from 2 s after B's start, in bytes/s.
func (b *bed) joinUpload(t *testing.T, cc string, rate uint64) (first, aLater, bLater float64) {
	b.cc = cc
	defer func() { b.cc = "" }()
	c := limitedCgroup(t, &Network{EgressRate: rate})
	a := b.startClient(t, c.path, 'A', 9, 0)
	time.Sleep(3 * time.Second)
	nb := b.startClient(t, c.path, 'B', 6, 0)
	var wg sync.WaitGroup
	wg.Go(func() { aLater = b.measure('A', 2*time.Second, 5500*time.Millisecond) })
	wg.Go(func() {
		first = b.measure('B', time.Second, 2*time.Second)
		bLater = b.measure('B', 0, 3500*time.Millisecond)
	})
	wg.Wait()
	a.wait(t)
	nb.wait(t)
	return first, aLater, bLater
}

// joinDownload is joinUpload for downloads into a cgroup limited on
// ingress, sent by the server's sockets with cc.
func (b *bed) joinDownload(t *testing.T, cc string, rate uint64) (first, aLater, bLater float64) {
	setListenerCC(t, b.ln, cc)
	c := limitedCgroup(t, &Network{IngressRate: rate})
	a := b.startClient(t, c.path, 'r', 9, 0)
	time.Sleep(3 * time.Second)
	nb := b.startClient(t, c.path, 'r', 6, 0)
	ra, rb := a.wait(t), nb.wait(t)
	return rb.rxBetween(time.Second, 2*time.Second),
		ra.rxBetween(5*time.Second, 9*time.Second), rb.rxBetween(2*time.Second, 6*time.Second)
}

// TestNetworkIngressFlows: 4 and 16 downloads into one cgroup limited to
// 10 and 100 Mbit/s on ingress, cubic and BBR senders. Pacing cannot reach a
// remote sender, so here the flows share by drops alone, and the drops fall
// on the flows beyond their fair share (see ingressConfig). Asserted: the
// aggregate within 95-105% of ideal, Jain's index over 10 s >= ingressJain,
// and no flow below ingressMinShare of an equal share (Jain alone misses one
// starving flow beside three equal ones, 0.75). Figures: see ingressConfig.
func TestNetworkIngressFlows(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	for _, rate := range []uint64{10e6, 100e6} {
		for _, n := range []int{4, 16} {
			for _, cc := range []string{"cubic", "bbr"} {
				t.Run(fmt.Sprintf("%s-%d-%s", FormatRate(rate), n, cc), func(t *testing.T) {
					b.ingressFlows(t, rate, n, cc)
				})
			}
		}
	}
}

// ingressFlows runs n downloads of senders using cc into one cgroup
// limited to rate on ingress, and checks how they shared it.
func (b *bed) ingressFlows(t *testing.T, rate uint64, n int, cc string) {
	requireCC(t, cc)
	setListenerCC(t, b.ln, cc) // the senders are the server's sockets
	if cc == "dctcp" {
		// The receivers ask for ECN in their SYN (see goodputCC).
		b.cc = cc
		defer func() { b.cc = "" }()
	}
	c := limitedCgroup(t, &Network{IngressRate: rate})
	cls := make([]*client, n)
	for i := range n {
		cls[i] = b.startClient(t, c.path, 'r', 11.5, 0)
	}
	got := make([]float64, n)
	for i, cl := range cls {
		res := cl.wait(t)
		got[i] = res.rxGoodput(1500 * time.Millisecond)
		if cc == "dctcp" && !res.ECN {
			t.Errorf("download %d did not negotiate ECN", i)
		}
	}
	st, err := networkStatsOf(c)
	if err != nil {
		t.Fatal(err)
	}
	agg, j := sum(got)/idealGoodput(rate), jain(got)
	equal := sum(got) / float64(n)
	low := slices.Min(got) / equal
	t.Logf("aggregate %.2f%% of ideal, Jain %.4f, slowest flow %.1f%% of an equal share, flows %.0f B/s; ingress %+v",
		100*agg, j, 100*low, got, st.Ingress)
	if agg < 0.95 || agg > 1.05 {
		t.Errorf("aggregate %.1f%% of ideal, want 95-105%%", 100*agg)
	}
	if j < ingressJain {
		t.Errorf("Jain's index %.3f, want >= %.2f (flows %.0f B/s)", j, ingressJain, got)
	}
	if low < ingressMinShare {
		t.Errorf("slowest flow %.1f%% of an equal share, want >= %.0f%% (flows %.0f B/s)",
			100*low, 100*ingressMinShare, got)
	}
}

// TestNetworkIngressFlows' bounds, for cubic and BBR senders alike.
const (
	ingressJain     = 0.95
	ingressMinShare = 0.5
)
