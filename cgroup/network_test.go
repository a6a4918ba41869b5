package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// idealGoodput is what a perfect limiter of rate bits/s on an Ethernet
// wire delivers to the application, in bytes/s: rate x MSS / wire size.
func idealGoodput(rate uint64) float64 {
	return float64(rate) / 8 * bedMSS / bedWire
}

// measure returns the goodput in bytes/s delivered with tag between from
// and to (offsets from now), as the sink's TCP stack received it (see
// bed.delivered).
func (b *bed) measure(tag byte, from, to time.Duration) float64 {
	got, _ := b.measureStolen(tag, from, to)
	return got
}

// measureStolen is measure that also returns the time the hypervisor took
// from this machine within the window (stolenTime).
func (b *bed) measureStolen(tag byte, from, to time.Duration) (float64, time.Duration) {
	start := time.Now()
	time.Sleep(from)
	n0, t0, s0 := b.delivered(tag), time.Now(), stolenTime()
	time.Sleep(to - time.Since(start))
	n1, t1, s1 := b.delivered(tag), time.Now(), stolenTime()
	return float64(n1-n0) / t1.Sub(t0).Seconds(), s1 - s0
}

// openCgroup opens the cgroup at path as a manager would (the directory fd
// names the pin directory) and closes it at cleanup.
func openCgroup(t testing.TB, path string) *Cgroup {
	t.Helper()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// networkStatsOf reads the counters through the public Stats, which holds
// c's lock while it reads them.
func networkStatsOf(c *Cgroup) (NetworkStats, error) {
	var s Stats
	err := c.Stats(&s, StatNetwork)
	return s.Network, err
}

func limitedCgroup(t testing.TB, n *Network) *Cgroup {
	t.Helper()
	c := openCgroup(t, testutil.TempCgroup(t))
	if err := c.applyNetwork(n); err != nil {
		t.Fatalf("applyNetwork: %v", err)
	}
	t.Cleanup(func() {
		if err := c.deleteNetwork(); err != nil {
			t.Errorf("deleteNetwork: %v", err)
		}
	})
	return c
}

// TestNetworkGoodput streams from a limited cgroup over a veth at 10, 100
// and 1000 Mbit/s (virtual-queue mode: this host has no fq) and checks goodput
// over 4.5 s against the ideal. The 97-101% is the 10 s target;
// the test allows 90-108%: the host is shared and 2-core, and the
// virtual backlog can fill or drain within the short window. It logs
// the RTT of a 64-byte request/response every 10 ms from the same cgroup.
//
// The floor is lowered by the time the host did not run the sender within
// the window: the sending thread's waits on a runqueue beyond what its
// send buffer and the limiter's backlog carry it over (lostLineTime), and
// the time the hypervisor took from this machine (stolenTime, shared
// among its CPUs). At 1 Gbit/s a 2-CPU host is busy with the stream
// itself, and in CI one case read 86% with its probe answered 457 times
// instead of about 600: the client had not been run, not held back.
func TestNetworkGoodput(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const from, window = 1500 * time.Millisecond, 4500 * time.Millisecond
	for _, rate := range []uint64{10e6, 100e6, 1000e6} {
		t.Run(FormatRate(rate), func(t *testing.T) {
			c := limitedCgroup(t, &Network{EgressRate: rate})
			cfg := dirConfig(rate, 0, false)
			tag := byte('A')
			cl := b.startClient(t, c.path, tag, 6.5, 10)
			got, stolen := b.measureStolen(tag, from, from+window)
			res := cl.wait(t)
			st, err := networkStatsOf(c)
			if err != nil {
				t.Fatal(err)
			}
			stalled := lostLineTime(res.Stalls, from, window, time.Duration(cfg.DropNs+cfg.BurstNs))
			lost := stalled + stolen/time.Duration(runtime.NumCPU())
			low := 0.90 * (1 - float64(lost)/float64(window))
			ratio := got / idealGoodput(rate)
			t.Logf("sent %d goodput %.0f B/s = %.2f%% of ideal (want %.1f-108%%: sender stalled %v beyond the backlog, %v stolen); rtt p50 %v p99 %v (%d); segs %d retrans %d; stats %+v",
				res.Sent, got, 100*ratio, 100*low, stalled, stolen, percentile(res.RTTs, .5), percentile(res.RTTs, .99), len(res.RTTs),
				res.Segs, res.Retrans, st)
			// The virtual backlog (up to CeilNs, ~0.3 s of line time) may
			// fill or drain within the window: +-7% over 4.5 s.
			if ratio < low || ratio > 1.08 {
				t.Errorf("goodput %.1f%% of ideal, want %.1f-108%%", 100*ratio, 100*low)
			}
			// Local drops are not losses: TCP keeps the segment and resends
			// nothing, so retransmissions stay under 0.1% (issue 6).
			if res.Segs == 0 || res.Retrans*1000 > res.Segs {
				t.Errorf("%d retransmits of %d segments, want < 0.1%%", res.Retrans, res.Segs)
			}
		})
	}
}

// TestNetworkLifecycle: apply pins maps and links; a fresh Cgroup value
// for the same path adopts them and updates the rate live (same programs);
// delete leaves no pin and no program.
func TestNetworkLifecycle(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	testutil.CheckLeaks(t)
	useBPFFS(t)
	path := testutil.TempCgroup(t)
	c := openCgroup(t, path)
	if err := c.applyNetwork(&Network{EgressRate: 10e6, IngressRate: 5e6}); err != nil {
		t.Fatal(err)
	}
	dir, err := c.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range bwprog.PinNames {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("pin %s: %v", name, err)
		}
	}
	ids := limiterIDs(t, dir)

	restarted := openCgroup(t, path) // as a new process would open it
	if err := restarted.applyNetwork(&Network{EgressRate: 20e6}); err != nil {
		t.Fatal(err)
	}
	l, err := bwprog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	eg, _ := l.Config(bwprog.Egress)
	in, _ := l.Config(bwprog.Ingress)
	l.Close()
	if want := dirConfig(20e6, 0, false); eg != want || in != (bwprog.Config{}) {
		t.Fatalf("after update: egress %+v ingress %+v, want %+v and none", eg, in, want)
	}
	if got := limiterIDs(t, dir); got != ids {
		t.Fatalf("update replaced the programs: %v -> %v", ids, got)
	}
	if st, err := networkStatsOf(restarted); err != nil || !st.Limited {
		t.Fatalf("stats: %+v, %v", st, err)
	}

	if err := restarted.deleteNetwork(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pin dir left after delete: %v", err)
	}
	for _, id := range ids {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Fatalf("program %d still loaded after delete", id)
		}
	}
	if st, err := networkStatsOf(c); err != nil || st.Limited {
		t.Fatalf("stats after delete: %+v, %v", st, err)
	}
	if err := c.deleteNetwork(); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

// TestNetworkDeleteAfterRmdir removes the cgroup directory out from under
// an open Cgroup: the path can no longer name the pin directory, but the
// fd's cgroup id still does, so Delete unpins everything and the programs
// are released; nothing is left in bpffs.
func TestNetworkDeleteAfterRmdir(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	testutil.CheckLeaks(t)
	mnt := useBPFFS(t)
	path := testutil.TempCgroup(t)
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.applyNetwork(&Network{EgressRate: 10e6, IngressRate: 5e6}); err != nil {
		t.Fatal(err)
	}
	dir, err := c.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	ids := limiterIDs(t, dir)
	if err := unix.Rmdir(path); err != nil {
		t.Fatalf("removing the cgroup directory: %v", err)
	}
	if _, err := bpfpin.CgroupID(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cgroup id by path after rmdir: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, bwprog.PinEgress)); err != nil {
		t.Fatalf("pins gone with the directory already (test proves nothing): %v", err)
	}
	if err := c.Delete(); err != nil {
		t.Fatalf("Delete after rmdir: %v", err)
	}
	// The mount holds only the kernel's own maps.debug/progs.debug.
	if _, err := os.Stat(bpfpin.FS(mnt).Root()); !errors.Is(err, os.ErrNotExist) {
		left, _ := os.ReadDir(mnt)
		t.Fatalf("confine pins left in bpffs after Delete: %v (%v)", left, err)
	}
	for _, id := range ids {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Fatalf("program %d still loaded after Delete", id)
		}
	}
}

// pacingID is the kernel id of the pacing program of the limiter pinned
// in dir.
func pacingID(t testing.TB, dir string) ebpf.ProgramID {
	t.Helper()
	l, err := bwprog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	id, err := l.PacingID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func limiterIDs(t testing.TB, dir string) [2]ebpf.ProgramID {
	t.Helper()
	l, err := bwprog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ids, err := l.ProgramIDs()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestNetworkValidate(t *testing.T) {
	for _, n := range []Network{
		{EgressRate: 999}, {IngressRate: 1}, {EgressRate: maxRate + 1}, {EgressBurst: 1<<32 + 1},
	} {
		var ie *InvalidError
		if err := n.validate(); !errors.As(err, &ie) {
			t.Errorf("validate(%+v) = %v, want *InvalidError", n, err)
		}
	}
	for _, n := range []*Network{nil, {}, {EgressRate: 1000, IngressRate: 1e9, EDT: true}} {
		if err := n.validate(); err != nil {
			t.Errorf("validate(%+v): %v", n, err)
		}
	}
}

func TestDirConfig(t *testing.T) {
	c := dirConfig(10e6, 0, false)
	if got := c.CostPerByte >> bwprog.CostShift; got != 800 {
		t.Errorf("10mbit: %d ns/byte, want 800", got)
	}
	if !(c.MarkNs < c.DropNs && c.DropNs < c.CeilNs && c.BurstNs > 0) {
		t.Errorf("thresholds out of order: %+v", c)
	}
	// A flood of non-TCP traffic must leave TCP room below DropNs, and
	// keep half the rate of its own.
	for _, c := range []bwprog.Config{dirConfig(10e6, 0, false), ingressConfig(100e6, 0)} {
		if c.OtherDropNs == 0 || c.OtherDropNs >= c.DropNs {
			t.Errorf("OtherDropNs %d not in (0, DropNs %d)", c.OtherDropNs, c.DropNs)
		}
		if c.OtherCostPerByte != 2*c.CostPerByte {
			t.Errorf("OtherCostPerByte %d, want twice CostPerByte %d (half the rate)", c.OtherCostPerByte, c.CostPerByte)
		}
	}
	if e := dirConfig(10e6, 0, true); e.Flags&bwprog.FlagEDT == 0 {
		t.Errorf("EDT flag missing: %+v", e)
	}
	if (dirConfig(0, 5, true) != bwprog.Config{}) {
		t.Error("rate 0 must mean count only")
	}
	// Ingress drops later than egress, by more than a retransmission
	// timeout (see ingressConfig): the flows within their share at
	// CeilNs, a lone flow at FairNs; the flows beyond their share drop
	// from DropNs on, below both, and the flows within their share can
	// use all their tails allow beyond DropNs before the ceiling. It
	// still counts only when unlimited.
	for _, rate := range []uint64{10e6, 100e6, 1e9} {
		in, eg := ingressConfig(rate, 0), dirConfig(rate, 0, false)
		rto := uint64(200 * time.Millisecond)
		if in.CeilNs < in.MarkNs+rto || in.FairNs < rto || in.CeilNs < in.DropNs+in.FairNs+in.BurstNs ||
			!(in.MarkNs < in.DropNs && in.DropNs < in.FairNs) ||
			in.MarkNs != eg.MarkNs || in.Flags != 0 || in.PaceRate != 0 {
			t.Errorf("ingress thresholds at %d bit/s: %+v", rate, in)
		}
	}
	if (ingressConfig(0, 5) != bwprog.Config{}) {
		t.Error("ingress rate 0 must mean count only")
	}
	// Extreme rates must not overflow into tiny thresholds.
	if h := dirConfig(bwprog.MinRate, 1<<32, false); h.BurstNs < uint64(time.Hour) {
		t.Errorf("4 GiB at 1 kbit/s: burst %d ns", h.BurstNs)
	}
}

// TestNetworkSharedVeth: two limited cgroups and an unlimited one send over
// one veth at once; each limited one gets its own rate, the unlimited one
// far more. Then cgroup A's rate is raised live and takes effect within 1 s.
//
// The tolerance is derived, not guessed: the bytes a virtual-queue limiter
// passes in a window are the window's line time plus the change of its
// backlog, which lies between -burst and the drop threshold. So a window of
// W may read (DropNs+BurstNs)/W off; 5% more covers the receiver being
// scheduled late on this shared 2-core host (three flows, one unlimited).
// (With a fixed 85-105% and 2.5 s windows, A at 10 Mbit/s could legitimately
// read 110%: that was the flake.)
func TestNetworkSharedVeth(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	ca := limitedCgroup(t, &Network{EgressRate: 10e6})
	cb := limitedCgroup(t, &Network{EgressRate: 30e6})
	cc := &Cgroup{path: testutil.TempCgroup(t)}
	const window = 3500 * time.Millisecond
	clients := []*client{
		b.startClient(t, ca.path, 'A', 10, 0),
		b.startClient(t, cb.path, 'B', 10, 0),
		b.startClient(t, cc.path, 'C', 10, 0),
	}
	time.Sleep(1500 * time.Millisecond)
	var got [3]float64
	var wg sync.WaitGroup
	for i, tag := range []byte{'A', 'B', 'C'} {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = b.measure(tag, 0, window) }()
	}
	wg.Wait()
	// Live change: A to 40 Mbit/s; measure from 1 s after the update.
	if err := openCgroup(t, ca.path).applyNetwork(&Network{EgressRate: 40e6}); err != nil {
		t.Fatal(err)
	}
	after := b.measure('A', time.Second, time.Second+window)
	for _, c := range clients {
		c.wait(t)
	}
	checks := []struct {
		name string
		rate uint64
		got  float64
	}{{"A", 10e6, got[0]}, {"B", 30e6, got[1]}, {"A after change to 40mbit", 40e6, after}}
	for _, c := range checks {
		r := c.got / idealGoodput(c.rate)
		slack := windowSlack(dirConfig(c.rate, 0, false), window)
		t.Logf("%s: %.1f%% of ideal (allowed +-%.1f%%)", c.name, 100*r, 100*slack)
		if r < 1-slack || r > 1+slack {
			t.Errorf("%s: %.1f%% of ideal, want 100+-%.1f%%", c.name, 100*r, 100*slack)
		}
	}
	t.Logf("unlimited C: %.0f B/s", got[2])
	if got[2] < 3*got[1] {
		t.Errorf("unlimited cgroup got %.0f B/s, want far above B's %.0f", got[2], got[1])
	}
}

// windowSlack is how far a goodput measured over window may honestly be
// from the ideal under a virtual-queue limiter with settings c: the backlog
// change (at most DropNs+BurstNs of line time) plus 5% for scheduling.
func windowSlack(c bwprog.Config, window time.Duration) float64 {
	return float64(c.DropNs+c.BurstNs)/float64(window) + 0.05
}

// TestInstallFQ: where the kernel has sch_fq the veth gets it; where not
// (this host) the error says ErrNotSupported.
func TestInstallFQ(t *testing.T) {
	b := newBed(t)
	err := installFQ(b.cliNS, b.cliLink)
	if err != nil {
		if !errors.Is(err, ErrNotSupported) {
			t.Fatalf("InstallFQ: %v, want nil or ErrNotSupported", err)
		}
		t.Logf("no fq here: %v", err)
		return
	}
	h := nsHandle(t, b.cliNS)
	l, _ := h.LinkByName(b.cliLink)
	qs, err := h.QdiscList(l)
	if err != nil || len(qs) == 0 || qs[0].Type() != "fq" {
		t.Fatalf("qdiscs after InstallFQ: %v, %v", qs, err)
	}
	if err := installFQ(b.cliNS, "nonexistent0"); err == nil || errors.Is(err, ErrNotSupported) {
		t.Fatalf("InstallFQ on a missing link: %v", err)
	}
}

// TestNetworkIngress: a client in a cgroup with an ingress limit receives a
// bulk stream; the goodput it reads over 8 s from 1.5 s on must be 95-105%
// of the ideal for the rate (issue 6). The window is long because the
// ingress queue may run ~0.35 s ahead (see ingressConfig): the backlog
// change alone can move a window's reading by 0.35 s / W.
func TestNetworkIngress(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	for _, rate := range []uint64{10e6, 100e6} {
		t.Run(FormatRate(rate), func(t *testing.T) {
			c := limitedCgroup(t, &Network{IngressRate: rate})
			res := b.startClient(t, c.path, 'r', 9.5, 0).wait(t)
			st, err := networkStatsOf(c)
			if err != nil {
				t.Fatal(err)
			}
			got := res.rxGoodput(1500 * time.Millisecond)
			ratio := got / idealGoodput(rate)
			t.Logf("goodput %.0f B/s = %.2f%% of ideal (%d samples); ingress %+v",
				got, 100*ratio, len(res.RX), st.Ingress)
			if ratio < 0.95 || ratio > 1.05 {
				t.Errorf("ingress goodput %.1f%% of ideal, want 95-105%%", 100*ratio)
			}
		})
	}
}

// TestNetworkIngressECN: when the download negotiated ECN (the client's
// namespace asks for it: net.ipv4.tcp_ecn=1), the ingress limiter's marks
// reach the sender as CE (Marked counts only packets that were ECN-capable,
// so it stays 0 without ECN) and the rate still holds.
func TestNetworkIngressECN(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	err := inNetns(b.cliNS, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/tcp_ecn", []byte("1"), 0)
	})
	if err != nil {
		t.Fatalf("enabling ECN in the client namespace: %v", err)
	}
	const rate = 10e6
	c := limitedCgroup(t, &Network{IngressRate: rate})
	res := b.startClient(t, c.path, 'r', 9.5, 0).wait(t)
	st, err := networkStatsOf(c)
	if err != nil {
		t.Fatal(err)
	}
	ratio := res.rxGoodput(1500*time.Millisecond) / idealGoodput(rate)
	t.Logf("ecn %v, %.2f%% of ideal; ingress %+v", res.ECN, 100*ratio, st.Ingress)
	if !res.ECN {
		t.Fatal("the download did not negotiate ECN")
	}
	if st.Ingress.Marked == 0 {
		t.Error("no ingress packet was CE-marked")
	}
	if ratio < 0.95 || ratio > 1.05 {
		t.Errorf("ingress goodput %.1f%% of ideal, want 95-105%%", 100*ratio)
	}
}
