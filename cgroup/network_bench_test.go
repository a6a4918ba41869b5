package cgroup

import (
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/confinelab/confine/internal/testutil"
)

// Bandwidth benchmarks. Each one streams for -bw.secs seconds over the
// test bed's veth (whatever b.N is: run them with -benchtime 1x) and reports
// its figures as custom metrics:
//
//	go test -run '^$' -bench 'BenchmarkNetwork' -benchtime 1x ./cgroup/
var bwSecs = flag.Float64("bw.secs", 6, "seconds each bandwidth benchmark streams (measured from 1 s on)")

// bwCC lists the congestion controls BenchmarkNetworkAccuracy runs each
// rate with, confine and tbf alike ("default": the namespace's, BBR on
// this host). Unavailable ones are skipped.
var bwCC = flag.String("bw.cc", "cubic,bbr", "comma-separated congestion controls for BenchmarkNetworkAccuracy (dctcp where the kernel has it)")

// bwFlows is how many parallel bulk flows BenchmarkNetworkAccuracy runs
// in the cgroup (1, 4, 16: the table); with more than one it also
// reports Jain's fairness index of their goodputs ("jain").
var bwFlows = flag.Int("bw.flows", 1, "parallel TCP flows per cgroup in BenchmarkNetworkAccuracy (at most 26)")

// bwRates lists BenchmarkNetworkAccuracy's rates.
var bwRates = flag.String("bw.rates", "10mbit,100mbit,1gbit", "comma-separated rates for BenchmarkNetworkAccuracy")

// BenchmarkNetworkAccuracy is the accuracy and latency table: at 10, 100
// and 1000 Mbit/s, goodput as % of ideal and the latency of two probes
// from the same cgroup during the bulk flow, for confine's limiter
// (virtual-queue mode; this host has no fq) and for tbf on the same veth in
// the same run. tbf gets burst = max(rate/250 Hz, 64 KiB, so a whole GSO
// packet fits) and a 50 ms queue (limit), as "tc qdisc add ... tbf rate R
// burst B latency 50ms" would.
//
// The probes, both every 10 ms (see benchProbes):
//   - ms-p50-ping, ms-p99-ping, ping-lost: an ICMP echo, as ping(8)
//     measures it: the server's kernel answers and the reply's kernel
//     receive timestamp ends the RTT, so it is the network path (the
//     limiter, the qdisc, the veth) without either end's scheduling. A
//     request unanswered after 1 s is lost (tbf drops when its queue is full).
//   - ms-p50-rtt, ms-p99-rtt: a 64-byte TCP request/response, as an
//     application sees it: the path plus TCP plus waking the Go reader on
//     both ends, on a 2-core host busy with the bulk sender and sink (the
//     controls show that share: their path has no queue at all).
func BenchmarkNetworkAccuracy(b *testing.B) {
	testutil.RequireKernel(b, "5.12")
	useBPFFS(b)
	bd := newBed(b)
	for _, rs := range strings.Split(*bwRates, ",") {
		rate, err := ParseRate(rs)
		if err != nil {
			b.Fatal(err)
		}
		for _, cc := range strings.Split(*bwCC, ",") {
			if cc != "default" && !availableCC(cc) {
				b.Logf("skipping %s: not available on this kernel", cc)
				continue
			}
			bd.cc = strings.TrimPrefix(cc, "default")
			// confine and tbf alternate within each cc and rate, so both see
			// the same minute of this shared host.
			suffix := ""
			if *bwFlows > 1 {
				suffix = fmt.Sprintf("-%dflows", *bwFlows)
			}
			b.Run(cc+"/confine-"+FormatRate(rate)+suffix, func(b *testing.B) {
				c := limitedCgroup(b, &Network{EgressRate: rate})
				bd.bulk(b, c.path, 'A', rate).report(b)
				reportGSO(b, c)
			})
			b.Run(cc+"/tbf-"+FormatRate(rate)+suffix, func(b *testing.B) {
				bd.setTBF(b, rate)
				bd.bulk(b, testutil.TempCgroup(b), 'A', rate).report(b)
			})
		}
	}
	bd.cc = ""
	// Controls, no limiter and no qdisc: the same pings beside a bulk flow
	// paced by TCP itself at 1 Gbit/s (the latency floor at that rate on
	// this host), and beside an unpaced flow at full line rate (CPU bound).
	b.Run("tcp-paced-1gbit", func(b *testing.B) {
		r := bd.bulkPing(b, testutil.TempCgroup(b), 'D', 0, benchProbes, 1e9/8)
		r.rate = 1e9
		r.report(b)
	})
	b.Run("none-line-rate", func(b *testing.B) {
		bd.bulkPing(b, testutil.TempCgroup(b), 'C', 0, benchProbes, 0).report(b)
	})
}

// benchProbes are the latency probes beside a bulk flow. Every 10 ms each
// costs the limited flow little: the ICMP echo is a 42-byte frame (no
// payload), 34 kbit/s; the TCP probe a 130-byte frame, 104 kbit/s (its
// replies are acknowledged by the next request). Together 1.4% of
// 10 Mbit/s, which the flow's goodput gives up at that rate.
var benchProbes = probes{tcpMs: 10, icmpMs: 10}

type bulkResult struct {
	goodput          float64 // bytes/s
	rate             uint64
	p50, p99         time.Duration // TCP request/response
	pingP50, pingP99 time.Duration // ICMP echo
	res              clientResult
	flows            []float64 // goodput of each flow, when several
}

// bulk streams from cgroup dir with tag for -bw.secs, probing with
// benchProbes, and measures goodput from 1 s on. With -bw.flows n > 1,
// n-1 more flows (tags tag+1...) run beside it, unprobed; goodput is the
// sum and flows the goodput of each.
func (bd *bed) bulk(b *testing.B, dir string, tag byte, rate uint64) bulkResult {
	n := min(max(*bwFlows, 1), 26)
	more := make([]*client, n-1)
	for i := range more {
		more[i] = bd.startClient(b, dir, tag+byte(i+1), *bwSecs+0.2, 0)
	}
	got := make([]float64, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() {
			got[i] = bd.measure(tag+byte(i), time.Second, time.Duration(*bwSecs*float64(time.Second)))
		})
	}
	r := bd.bulkPing(b, dir, tag, rate, benchProbes, 0)
	wg.Wait()
	for _, c := range more {
		c.wait(b)
	}
	got[0] = r.goodput
	r.goodput, r.flows = sum(got), got
	return r
}

// bulkPing is bulk with the probes pr, with TCP pacing the bulk flow at
// pace bytes/s when pace != 0.
func (bd *bed) bulkPing(b *testing.B, dir string, tag byte, rate uint64, pr probes, pace uint64) bulkResult {
	cl := bd.startProbedClient(b, dir, tag, *bwSecs+0.2, pr, pace)
	got := bd.measure(tag, time.Second, time.Duration(*bwSecs*float64(time.Second)))
	res := cl.wait(b)
	return bulkResult{goodput: got, rate: rate, res: res,
		p50: percentile(res.RTTs, .5), p99: percentile(res.RTTs, .99),
		pingP50: percentile(res.ICMP, .5), pingP99: percentile(res.ICMP, .99)}
}

func (r bulkResult) report(b *testing.B) {
	if r.rate != 0 {
		b.ReportMetric(100*r.goodput/idealGoodput(r.rate), "%-of-ideal")
	} else {
		b.ReportMetric(r.goodput*8/1e6, "Mbit/s-goodput")
	}
	b.ReportMetric(float64(r.p50.Microseconds())/1e3, "ms-p50-rtt")
	b.ReportMetric(float64(r.p99.Microseconds())/1e3, "ms-p99-rtt")
	if r.res.ICMPSent > 0 {
		b.ReportMetric(float64(r.pingP50.Microseconds())/1e3, "ms-p50-ping")
		b.ReportMetric(float64(r.pingP99.Microseconds())/1e3, "ms-p99-ping")
	}
	if r.res.ICMPLost > 0 {
		b.ReportMetric(float64(r.res.ICMPLost), "ping-lost")
	}
	if len(r.flows) > 1 {
		b.ReportMetric(jain(r.flows), "jain")
	}
	if r.res.Segs > 0 {
		b.ReportMetric(100*float64(r.res.Retrans)/float64(r.res.Segs), "%-retrans")
	}
}

// reportGSO reports what the limiter saw of the cgroup's packets: wire
// segments per packet ("segs/pkt": GSO sizes differ from host to host
// with TSO autosizing and the congestion control's pacing) and the share
// of packets passed with a congestion signal or dropped.
func reportGSO(b *testing.B, c *Cgroup) {
	st, err := networkStatsOf(c)
	if err != nil {
		b.Fatal(err)
	}
	e := st.Egress
	if e.Packets == 0 {
		return
	}
	b.ReportMetric(float64(e.Segments)/float64(e.Packets), "segs/pkt")
	b.ReportMetric(100*float64(e.Marked)/float64(e.Packets), "%-signalled")
	b.ReportMetric(100*float64(e.DroppedPackets)/float64(e.Packets+e.DroppedPackets), "%-dropped")
}

// setTBF puts tbf at rate on the client's veth end, removed at cleanup.
func (bd *bed) setTBF(b testing.TB, rate uint64) {
	h := nsHandle(b, bd.cliNS)
	l, err := h.LinkByName(bd.cliLink)
	if err != nil {
		b.Fatal(err)
	}
	burst := max(rate/8/250, 64<<10)
	q := &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index,
			Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:   rate / 8,
		Buffer: uint32(burst),
		Limit:  uint32(burst + rate/8/20),
	}
	if err := h.QdiscReplace(q); err != nil {
		b.Fatalf("installing tbf: %v", err)
	}
	b.Cleanup(func() {
		if err := h.QdiscDel(q); err != nil {
			b.Errorf("removing tbf: %v", err)
		}
	})
}
