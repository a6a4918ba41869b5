package cgroup

import (
	"flag"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// BenchmarkNetworkOverhead is the per-packet cost of the limiter, two ways:
//
//   - Throughput: goodput on the veth from a cgroup with no program, from
//     one with an empty program ("return 1") both ways, and from one limited
//     far above what the veth carries (1 Tbit/s both ways), in -bw.rounds
//     rounds of 2 s runs in rotating order; the medians of the per-round ratios are
//     "%-of-unlimited" (against no program: the whole cost of limiting,
//     the kernel's cgroup hook included) and "%-of-empty" (against the
//     empty program: the limiter's own share). Runs seconds apart see the
//     same noise of this shared host, hence ratios per round.
//
//   - Run time: with BPF run-time statistics on (off while throughput is
//     compared: they cost two clock reads per run), the programs' run time
//     per packet as the kernel counts it, next to two baselines attached
//     the same way and measured in the same run: an empty program ("return
//     1"), the floor every cgroup_skb program pays (the statistics' own
//     clock read included), and one that only reads the clock
//     (bpf_ktime_get_ns), which any rate limiter must do per packet. A
//     "packet" is what the cgroup hook sees, usually a GSO packet of many
//     segments; "ns/segment" spreads the limiter's run time over the wire
//     packets it passed. "ns/call-pacing" is the pacing (sock_ops)
//     program's run time per call (one per round-trip sample of the bulk
//     socket) and "pacing-calls/pkt" its calls per egress packet.
//
//     go test -run '^$' -bench BenchmarkNetworkOverhead -benchtime 1x ./cgroup/
func BenchmarkNetworkOverhead(b *testing.B) {
	testutil.RequireKernel(b, "5.12")
	useBPFFS(b)
	bd := newBed(b)
	plain := testutil.TempCgroup(b)
	c := limitedCgroup(b, &Network{EgressRate: 1e12, IngressRate: 1e12})
	empty, clock := testutil.TempCgroup(b), testutil.TempCgroup(b)
	ret := asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}
	emptyIDs := attachBoth(b, empty, ret)
	clockIDs := attachBoth(b, clock, append(asm.Instructions{asm.FnKtimeGetNs.Call()}, ret...))

	bd.goodputFor(b, plain, 'A', time.Second) // warm up
	var none, hook, limited, ofNone, ofEmpty []float64
	for r := range *bwRounds {
		// The order rotates each round, so no arm always runs first.
		var got [3]float64
		for i := range 3 {
			arm := (r + i) % 3
			got[arm] = bd.goodputFor(b, []string{plain, empty, c.path}[arm], byte('A'+arm), 2*time.Second)
		}
		n, e, l := got[0], got[1], got[2]
		none, hook, limited = append(none, n), append(hook, e), append(limited, l)
		ofNone, ofEmpty = append(ofNone, l/n), append(ofEmpty, l/e)
	}
	b.ReportMetric(median(none)*8/1e6, "Mbit/s-none")
	b.ReportMetric(median(hook)*8/1e6, "Mbit/s-empty")
	b.ReportMetric(median(limited)*8/1e6, "Mbit/s-limited")
	b.ReportMetric(100*median(ofNone), "%-of-unlimited")
	b.ReportMetric(100*median(ofEmpty), "%-of-empty")

	dir, err := c.networkPinDir()
	if err != nil {
		b.Fatal(err)
	}
	for _, run := range []struct {
		name string
		dir  string
		ids  [2]ebpf.ProgramID
	}{
		{"", c.path, limiterIDs(b, dir)},
		{"empty-", empty, emptyIDs},
		{"clock-", clock, clockIDs},
	} {
		var segs [2]uint64 // segments the limiter passed during the run
		var pacing [2]ebpf.ProgramStats
		perPkt, runs := runTimes(b, run.ids, func() {
			before, _ := networkStatsOf(c)
			if run.name == "" {
				pacing[0] = pacingStats(b, dir)
			}
			bd.goodputFor(b, run.dir, 'D', 2*time.Second)
			if run.name == "" {
				pacing[1] = pacingStats(b, dir)
			}
			after, _ := networkStatsOf(c)
			segs = [2]uint64{after.Egress.Segments - before.Egress.Segments,
				after.Ingress.Segments - before.Ingress.Segments}
		})
		if n := pacing[1].RunCount - pacing[0].RunCount; n > 0 {
			b.ReportMetric(float64(pacing[1].Runtime-pacing[0].Runtime)/float64(n), "ns/call-pacing")
			b.ReportMetric(float64(n)/float64(runs[bwprog.Egress]), "pacing-calls/pkt")
		}
		for d, ns := range perPkt {
			b.ReportMetric(ns, "ns/pkt-"+run.name+bwprog.Direction(d).String())
			if run.name == "" && segs[d] > 0 {
				b.ReportMetric(ns*float64(runs[d])/float64(segs[d]), "ns/segment-"+bwprog.Direction(d).String())
			}
		}
	}
}

var bwRounds = flag.Int("bw.rounds", 9, "rounds of no-program/empty-program/limited runs in BenchmarkNetworkOverhead")

// goodputFor streams from cgroup dir for 1 s + d and returns the goodput
// over the last d.
func (bd *bed) goodputFor(b *testing.B, dir string, tag byte, d time.Duration) float64 {
	cl := bd.startClient(b, dir, tag, (time.Second + d + 200*time.Millisecond).Seconds(), 0)
	got := bd.measure(tag, time.Second, time.Second+d)
	cl.wait(b)
	return got
}

// runTimes turns BPF run-time statistics on, runs load and returns the
// mean run time per packet of the programs ids (egress, ingress) and how
// many packets they ran for.
func runTimes(b *testing.B, ids [2]ebpf.ProgramID, load func()) (perPkt [2]float64, runs [2]uint64) {
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatalf("enabling BPF run-time stats: %v", err)
	}
	defer stats.Close()
	before := progStats(b, ids)
	load()
	after := progStats(b, ids)
	for d := range ids {
		if runs[d] = after[d].RunCount - before[d].RunCount; runs[d] > 0 {
			perPkt[d] = float64(after[d].Runtime-before[d].Runtime) / float64(runs[d])
		}
	}
	return perPkt, runs
}

// attachBoth attaches insns to cgroup dir for egress and ingress and
// returns the two program ids; detached at cleanup.
func attachBoth(b *testing.B, dir string, insns asm.Instructions) [2]ebpf.ProgramID {
	var ids [2]ebpf.ProgramID
	for d, at := range []ebpf.AttachType{ebpf.AttachCGroupInetEgress, ebpf.AttachCGroupInetIngress} {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupSKB, AttachType: at,
			License: "GPL", Instructions: insns})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close() // the link holds it
		l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: at, Program: p})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		info, err := p.Info()
		if err != nil {
			b.Fatal(err)
		}
		var ok bool
		if ids[d], ok = info.ID(); !ok {
			b.Fatal("program id not available")
		}
	}
	return ids
}

// pacingStats reads the run-time statistics of the pacing program of the
// limiter pinned in dir.
func pacingStats(b *testing.B, dir string) ebpf.ProgramStats {
	return programStats(b, pacingID(b, dir))
}

func progStats(b *testing.B, ids [2]ebpf.ProgramID) [2]ebpf.ProgramStats {
	var out [2]ebpf.ProgramStats
	for d, id := range ids {
		out[d] = programStats(b, id)
	}
	return out
}

// programStats reads the run-time statistics of the program id.
func programStats(b *testing.B, id ebpf.ProgramID) ebpf.ProgramStats {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	s, err := p.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return *s
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
