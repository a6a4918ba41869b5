package cgroup

import (
	"flag"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// Bandwidth benchmarks. Each one streams for -bw.secs seconds over the
// test bed's veth (whatever b.N is: run them with -benchtime 1x) and reports
// its figures as custom metrics:
//
//	go test -run '^$' -bench 'BenchmarkNetwork' -benchtime 1x ./cgroup/
var bwSecs = flag.Float64("bw.secs", 6, "seconds each bandwidth benchmark streams (measured from 1 s on)")

// BenchmarkNetworkOverhead is the per-packet cost of the limiter: goodput
// on the veth with no program against a limit far above what the veth
// carries (1 Tbit/s), alternated twice to even out the host's noise; then,
// in a third run with BPF run-time statistics on (they cost a clock read
// per run, so they are off while throughput is compared), the programs'
// run time per packet as the kernel counts it. A "packet" is what the
// cgroup hook sees, usually a GSO packet of many segments.
func BenchmarkNetworkOverhead(b *testing.B) {
	testutil.RequireKernel(b, "5.12")
	useBPFFS(b)
	bd := newBed(b)
	plain := testutil.TempCgroup(b)
	c := limitedCgroup(b, &Network{EgressRate: 1e12, IngressRate: 1e12})
	var none, limited float64
	for range 2 {
		none += bd.bulk(b, plain, 'A', 0).goodput / 2
		limited += bd.bulk(b, c.path, 'B', 0).goodput / 2
	}
	b.ReportMetric(none*8/1e6, "Mbit/s-none")
	b.ReportMetric(limited*8/1e6, "Mbit/s-limited")
	b.ReportMetric(100*limited/none, "%-of-unlimited")

	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatalf("enabling BPF run-time stats: %v", err)
	}
	defer stats.Close()
	dir, err := c.networkPinDir()
	if err != nil {
		b.Fatal(err)
	}
	ids := limiterIDs(b, dir)
	before := progStats(b, ids)
	bd.bulk(b, c.path, 'C', 0)
	after := progStats(b, ids)
	for d := range ids {
		if n := after[d].RunCount - before[d].RunCount; n > 0 {
			b.ReportMetric(float64(after[d].Runtime-before[d].Runtime)/float64(n),
				"ns/pkt-"+bwprog.Direction(d).String())
		}
	}
}

func progStats(b *testing.B, ids [2]ebpf.ProgramID) [2]ebpf.ProgramStats {
	var out [2]ebpf.ProgramStats
	for d, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			b.Fatal(err)
		}
		s, err := p.Stats()
		p.Close()
		if err != nil {
			b.Fatal(err)
		}
		out[d] = *s
	}
	return out
}

// BenchmarkNetworkAccuracy is the accuracy and latency table: at 10, 100
// and 1000 Mbit/s, goodput as % of ideal and the RTT of a 64-byte
// request/response every 10 ms from the same cgroup during the bulk flow,
// for confine's limiter (virtual-queue mode; this host has no fq) and for
// tbf on the same veth in the same run. tbf gets burst = max(rate/250 Hz,
// 64 KiB, so a whole GSO packet fits) and a 50 ms queue (limit), as
// "tc qdisc add ... tbf rate R burst B latency 50ms" would.
func BenchmarkNetworkAccuracy(b *testing.B) {
	testutil.RequireKernel(b, "5.12")
	useBPFFS(b)
	bd := newBed(b)
	for _, rate := range []uint64{10e6, 100e6, 1000e6} {
		b.Run("confine-"+FormatRate(rate), func(b *testing.B) {
			c := limitedCgroup(b, &Network{EgressRate: rate})
			bd.bulk(b, c.path, 'A', rate).report(b)
		})
		b.Run("tbf-"+FormatRate(rate), func(b *testing.B) {
			bd.setTBF(b, rate)
			bd.bulk(b, testutil.TempCgroup(b), 'B', rate).report(b)
		})
	}
	// Controls, no limiter and no qdisc: the same pings beside a bulk flow
	// paced by TCP itself at 1 Gbit/s (the latency floor at that rate on
	// this host), and beside an unpaced flow at full line rate (CPU bound).
	b.Run("tcp-paced-1gbit", func(b *testing.B) {
		r := bd.bulkPing(b, testutil.TempCgroup(b), 'D', 0, 10, 1e9/8)
		r.rate = 1e9
		r.report(b)
	})
	b.Run("none-line-rate", func(b *testing.B) {
		bd.bulkPing(b, testutil.TempCgroup(b), 'C', 0, 10, 0).report(b)
	})
}

type bulkResult struct {
	goodput  float64 // bytes/s
	rate     uint64
	p50, p99 time.Duration
	res      clientResult
}

// bulk streams from cgroup dir with tag for -bw.secs (pinging every 10 ms
// when rate != 0) and measures goodput from 1 s on.
func (bd *bed) bulk(b *testing.B, dir string, tag byte, rate uint64) bulkResult {
	ping := 0
	if rate != 0 {
		ping = 10
	}
	return bd.bulkPing(b, dir, tag, rate, ping, 0)
}

// bulkPing is bulk pinging every pingMs (0: no pings), with TCP pacing the
// bulk flow at pace bytes/s when pace != 0.
func (bd *bed) bulkPing(b *testing.B, dir string, tag byte, rate uint64, ping int, pace uint64) bulkResult {
	cl := bd.startPacedClient(b, dir, tag, *bwSecs+0.2, ping, pace)
	got := bd.measure(tag, time.Second, time.Duration(*bwSecs*float64(time.Second)))
	res := cl.wait(b)
	return bulkResult{goodput: got, rate: rate, res: res,
		p50: percentile(res.RTTs, .5), p99: percentile(res.RTTs, .99)}
}

func (r bulkResult) report(b *testing.B) {
	if r.rate != 0 {
		b.ReportMetric(100*r.goodput/idealGoodput(r.rate), "%-of-ideal")
	} else {
		b.ReportMetric(r.goodput*8/1e6, "Mbit/s-goodput")
	}
	b.ReportMetric(float64(r.p50.Microseconds())/1e3, "ms-p50-rtt")
	b.ReportMetric(float64(r.p99.Microseconds())/1e3, "ms-p99-rtt")
	if r.res.Segs > 0 {
		b.ReportMetric(100*float64(r.res.Retrans)/float64(r.res.Segs), "%-retrans")
	}
}

// setTBF puts tbf at rate on the client's veth end, removed at cleanup.
func (bd *bed) setTBF(b *testing.B, rate uint64) {
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
