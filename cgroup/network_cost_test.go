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
//   - Throughput: goodput on the veth from a cgroup with no program and from
//     one limited far above what the veth carries (1 Tbit/s both ways), in
//     -bw.pairs alternating 2 s runs; the median of the per-pair ratios is
//     "%-of-unlimited" (the host is shared and noisy: pairs taken seconds
//     apart see the same noise).
//
//   - Run time: with BPF run-time statistics on (off while throughput is
//     compared: they cost two clock reads per run), the programs' run time
//     per packet as the kernel counts it, next to two baselines attached
//     the same way and measured in the same run: an empty program ("return
//     1"), the floor every cgroup_skb program pays (the statistics' own
//     clock read included), and one that only reads the clock
//     (bpf_ktime_get_ns), which any rate limiter must do per packet. A
//     "packet" is what the cgroup hook sees, usually a GSO packet of many
//     segments.
//
//     go test -run '^$' -bench BenchmarkNetworkOverhead -benchtime 1x ./cgroup/
func BenchmarkNetworkOverhead(b *testing.B) {
	testutil.RequireKernel(b, "5.12")
	useBPFFS(b)
	bd := newBed(b)
	plain := testutil.TempCgroup(b)
	c := limitedCgroup(b, &Network{EgressRate: 1e12, IngressRate: 1e12})
	bd.goodputFor(b, plain, 'A', time.Second) // warm up
	var ratios, none, limited []float64
	for range *bwPairs {
		n := bd.goodputFor(b, plain, 'A', 2*time.Second)
		l := bd.goodputFor(b, c.path, 'B', 2*time.Second)
		none, limited = append(none, n), append(limited, l)
		ratios = append(ratios, l/n)
	}
	b.ReportMetric(median(none)*8/1e6, "Mbit/s-none")
	b.ReportMetric(median(limited)*8/1e6, "Mbit/s-limited")
	b.ReportMetric(100*median(ratios), "%-of-unlimited")

	dir, err := c.networkPinDir()
	if err != nil {
		b.Fatal(err)
	}
	empty, clock := testutil.TempCgroup(b), testutil.TempCgroup(b)
	ret := asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}
	for _, run := range []struct {
		name string
		dir  string
		ids  [2]ebpf.ProgramID
	}{
		{"", c.path, limiterIDs(b, dir)},
		{"empty-", empty, attachBoth(b, empty, ret)},
		{"clock-", clock, attachBoth(b, clock, append(asm.Instructions{asm.FnKtimeGetNs.Call()}, ret...))},
	} {
		perPkt := runTimes(b, run.ids, func() { bd.goodputFor(b, run.dir, 'C', 2*time.Second) })
		for d, ns := range perPkt {
			b.ReportMetric(ns, "ns/pkt-"+run.name+bwprog.Direction(d).String())
		}
	}
}

var bwPairs = flag.Int("bw.pairs", 7, "alternating no-program/limited pairs BenchmarkNetworkOverhead runs")

// goodputFor streams from cgroup dir for 1 s + d and returns the goodput
// over the last d.
func (bd *bed) goodputFor(b *testing.B, dir string, tag byte, d time.Duration) float64 {
	cl := bd.startClient(b, dir, tag, (time.Second + d + 200*time.Millisecond).Seconds(), 0)
	got := bd.measure(tag, time.Second, time.Second+d)
	cl.wait(b)
	return got
}

// runTimes turns BPF run-time statistics on, runs load and returns the
// mean run time per packet of the programs ids (egress, ingress).
func runTimes(b *testing.B, ids [2]ebpf.ProgramID, load func()) [2]float64 {
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatalf("enabling BPF run-time stats: %v", err)
	}
	defer stats.Close()
	before := progStats(b, ids)
	load()
	after := progStats(b, ids)
	var out [2]float64
	for d := range ids {
		if n := after[d].RunCount - before[d].RunCount; n > 0 {
			out[d] = float64(after[d].Runtime-before[d].Runtime) / float64(n)
		}
	}
	return out
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

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
