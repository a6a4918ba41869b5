package cgroup

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"time"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/bwprog"
)

// Network limits the bandwidth of the cgroup's sockets (those created by
// processes in the cgroup). A non-nil Network attaches the limiter: a
// direction with rate 0 is not limited but still counted. Rates change live
// with Apply; Delete removes the limiter.
//
// Without EDT, traffic of no TCP socket (UDP, ICMP, raw) and TCP cannot
// starve each other: such traffic is held below the level at which TCP
// packets drop, so a flood that ignores congestion signals leaves the
// cgroup's TCP flows room, and it keeps half the rate of its own however
// full TCP keeps the queue. Greedy TCP beside a flood: about half each;
// either alone: all of it. Small packets (up to 128 bytes: DNS queries,
// pings) are exempt until far beyond.
type Network struct {
	// EgressRate is the send limit in bits per second on an Ethernet wire
	// (headers included, like tc), 0 for none. Parse user input with
	// ParseRate. At least 1000 when set.
	EgressRate uint64
	// EgressBurst is the credit in bytes an idle cgroup accumulates, 0 for
	// the default (10 ms at the rate, at least 64 KiB).
	EgressBurst uint64
	// IngressRate is the receive limit in bits per second, 0 for none.
	// Packets cannot be held on ingress, only marked (ECN) or dropped, and
	// a drop is a loss the sender repairs; so the limiter lets the cgroup
	// run up to ~0.3 s of line time ahead before it drops, which keeps the
	// link busy through a sender's retransmission timeout; the packets of
	// flows that received more than an equal share drop from ~0.1 s on,
	// so that downloads share evenly whatever their senders' congestion
	// control. Averaged over seconds the rate is exact.
	IngressRate uint64
	// IngressBurst is like EgressBurst, for ingress.
	IngressBurst uint64
	// EDT selects earliest-departure-time pacing for egress: packets get a
	// departure time and an fq qdisc on the egress device holds them. Set it
	// only when every device the cgroup's traffic leaves through has fq (see
	// netns.InstallFQ): without fq the times are ignored and nothing is limited.
	// Without EDT the virtual-queue mode (ECN marks, congestion
	// notification, drops) works on any device.
	EDT bool
}

// NetworkStats holds the bandwidth limiter's per-cgroup counters.
type NetworkStats struct {
	// Limited is true when a limiter is attached; the counters are zero
	// otherwise.
	Limited bool
	// Egress and Ingress count each direction.
	Egress, Ingress NetworkDirStats
}

// NetworkDirStats counts one direction. Bytes are Ethernet wire bytes
// (every GSO segment's headers counted); a GSO packet counts as one packet
// and as gso_segs segments.
type NetworkDirStats struct {
	Bytes, Packets, Segments uint64 // passed
	Delayed                  uint64 // given a later departure time (EDT)
	// Marked were passed with a congestion signal: ECN CE set (only an
	// ECN-capable packet can carry it), or on egress a notification to the
	// sending socket, which TCP answers by reducing its window.
	Marked         uint64
	DroppedPackets uint64
	DroppedBytes   uint64
}

// networkFS holds the per-cgroup pin directories (confine/cg-<cgroup id>);
// tests point it at a private BPF filesystem.
var networkFS = bpfpin.Default

func (n *Network) validate() error {
	if n == nil {
		return nil
	}
	for _, f := range []struct {
		name  string
		value uint64
	}{{"Network.EgressRate", n.EgressRate}, {"Network.IngressRate", n.IngressRate}} {
		if f.value != 0 && (f.value < bwprog.MinRate || f.value > maxRate) {
			return invalid(f.name, f.value, fmt.Sprintf("must be 0 (no limit) or %d..%d bits/s",
				bwprog.MinRate, uint64(maxRate)))
		}
	}
	for _, f := range []struct {
		name  string
		value uint64
	}{{"Network.EgressBurst", n.EgressBurst}, {"Network.IngressBurst", n.IngressBurst}} {
		if f.value > 1<<32 {
			return invalid(f.name, f.value, "must be at most 4 GiB")
		}
	}
	return nil
}

// networkPinDir is the cgroup's pin directory, named by the id of the open
// directory fd (pinID) so that it is still found, and the pins removed,
// after the directory itself was removed.
func (c *Cgroup) networkPinDir() (string, error) {
	id, err := c.pinID()
	if err != nil {
		return "", err
	}
	return networkFS.DirForID(id), nil
}

// applyNetwork attaches or updates the limiter; Apply names the step in
// its errors.
func (c *Cgroup) applyNetwork(n *Network) error {
	if n == nil {
		return nil
	}
	if err := n.validate(); err != nil {
		return err
	}
	cfg := [2]bwprog.Config{
		bwprog.Egress:  dirConfig(n.EgressRate, n.EgressBurst, n.EDT),
		bwprog.Ingress: ingressConfig(n.IngressRate, n.IngressBurst),
	}
	id, err := c.pinID()
	if err != nil {
		return err
	}
	dir := networkFS.DirForID(id)
	l, err := bwprog.Open(dir)
	if err == nil { // adopt and update live
		defer l.Close()
		for d, dc := range cfg {
			if err := l.Update(bwprog.Direction(d), dc); err != nil {
				return err
			}
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Named after a cgroup pinID found: sweepNetwork relies on it.
	if _, err := networkFS.EnsureDirForID(id); err != nil {
		return err
	}
	target, release, err := c.attachTarget()
	if err != nil {
		_ = networkFS.RemovePinDir(dir)
		return err
	}
	defer release()
	l, err = bwprog.Attach(target, dir, cfg)
	if err != nil {
		_ = networkFS.RemovePinDir(dir) // only if we left it empty
		return err
	}
	return l.Close()
}

// networkStats reads the counters into s. Stats calls it with c.mu held
// and c.fd open, so it takes the cgroup id from c.fd itself (pinID would
// lock c.mu again).
func (c *Cgroup) networkStats(s *NetworkStats) error {
	*s = NetworkStats{}
	id, err := bpfpin.CgroupIDFromFD(c.fd)
	if err != nil {
		return fmt.Errorf("reading network counters: %w", err)
	}
	dir := networkFS.DirForID(id)
	l, err := bwprog.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading network counters: %w", err)
	}
	defer l.Close()
	for d, out := range []*NetworkDirStats{&s.Egress, &s.Ingress} {
		st, err := l.Stats(bwprog.Direction(d))
		if err != nil {
			return fmt.Errorf("reading network counters: %w", err)
		}
		*out = NetworkDirStats{Bytes: st.PassBytes, Packets: st.PassPackets,
			Segments: st.PassSegments, Delayed: st.Delayed, Marked: st.Marked,
			DroppedPackets: st.DropPackets, DroppedBytes: st.DropBytes}
	}
	s.Limited = true
	return nil
}

// deleteNetwork unpins the limiter's links and maps, which detaches and
// frees the programs, and removes the pin directory when that left it
// empty. It needs neither the cgroup directory nor a complete set of pins,
// so it also cleans up after the cgroup was removed (as long as c is open)
// or after a half-finished attach.
func (c *Cgroup) deleteNetwork() error {
	dir, err := c.networkPinDir()
	if errors.Is(err, os.ErrNotExist) {
		return nil // no fd and no directory: nothing names the pins
	}
	if err != nil {
		return fmt.Errorf("removing network limits: %w", err)
	}
	err = errors.Join(bwprog.RemovePinned(dir), networkFS.RemovePinDir(dir))
	if err != nil {
		return fmt.Errorf("removing network limits: %w", err)
	}
	return nil
}

// sweepNetwork removes from fs the limiters of cgroups that no longer
// exist (bpfpin.GoneIDs resolves ids through mnt, on the cgroup2
// filesystem), freeing their links, programs and maps, and their pin
// directories when nothing else is pinned there. It returns the ids of
// the cgroups it found gone.
//
// A live cgroup's limiter is never removed, also while it is being
// attached: applyNetwork names the pin directory after pinID, the id of
// the cgroup's open fd (opened, so activated, before) or of its path
// (found by stat, so activated), and makes the directory and pins only
// after that; a name the sweep reads therefore belongs to a cgroup that
// existed before the sweep asks the kernel about it, as bpfpin's
// reasoning (gone.go) requires. A manager still attaching to, or deleting,
// a cgroup removed meanwhile pins or unpins under an id that stays gone;
// the sweep and Delete both tolerate pins the other removed.
//
// Apply does not sweep, unlike a device attach (which asks only about the
// users of one program): a sweep asks about every pin directory, and with
// 1000 limited cgroups took 3.2 ms here, more than the attach it would be
// added to (2.5 ms; BenchmarkSweepNetwork, BenchmarkNetworkAttach).
func sweepNetwork(fs bpfpin.FS, mnt *os.File) ([]uint64, error) {
	gone, err := fs.GoneIDs(mnt)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, id := range gone {
		dir := fs.DirForID(id)
		errs = append(errs, bwprog.RemovePinned(dir), fs.RemovePinDir(dir))
	}
	return gone, errors.Join(errs...)
}

// Limiter tuning. Virtual-queue thresholds are in line time: backlog is
// how long the bytes passed beyond the rate would take to drain.
const (
	minBurstBytes = 64 << 10
	burstTime     = 10 * time.Millisecond
	markTime      = 2 * time.Millisecond
	markBytes     = 128 << 10 // two full GSO packets
	ceilExtra     = 300 * time.Millisecond
	edtHorizon    = 2 * time.Second
	ingressQueue  = 300 * time.Millisecond
	// On ingress a flow beyond its fair share drops from MarkNs +
	// ingressGreedyDrop of shared backlog on, and counts as beyond it
	// once its own tail runs MarkNs + ingressFlowQueue ahead: see
	// ingressConfig.
	ingressGreedyDrop = 90 * time.Millisecond
	ingressFlowQueue  = 200 * time.Millisecond
	// ingressPacketRoom: the ingress ceiling leaves room for this much
	// beyond what the flows' tails allow, one full GSO packet of each of
	// eight flows (see ingressConfig).
	ingressPacketRoom = 8 * 64 << 10
	smallPacket       = 128 // bytes of L3 length: ACKs, SYNs, pings
	// fairShift sets flow epochs of 2^28 ns = 268 ms (Config.FairShift):
	// longer than a TCP probe timer (200 ms), so a flow stalled on one
	// still counts. With 67 ms epochs stalled flows dropped out of the
	// count, the others' shares grew, and 16 cubic flows shared worse than
	// without fair shares (Jain 0.12-0.25 against 0.32-0.55).
	fairShift = 28
	// paceHeadroom: each flow beyond its share is paced at this times an
	// equal share of the rate (Config.PaceRate). Above 1, so the flows'
	// caps add up to more than the rate and the virtual queue stays
	// saturated: a flow held below its cap (by a loss, or its own
	// application) leaves the rest to the others. 16 flows shared with
	// Jain's index 0.99 (cubic) and 0.98-0.99 (BBR) at 1.1 and 1.25; at 1.5
	// BBR fell to 0.96.
	paceHeadroom = 1.25

	// Congestion signals are spaced (Config.SignalNs): see signalSpacing.
	signalMin = 10 * time.Millisecond
	signalRTT = time.Millisecond // a round trip on a loaded host
	signalMSS = 1448
)

// signalSpacing is how far apart the virtual queue's congestion signals
// lie. The queue holds nothing, so a TCP sender's round trip does not grow
// with its window as behind a real queue: its window buys rate only as
// window/RTT, with the RTT of the bare path (tens of microseconds to about
// a millisecond on a busy host). Every signal cuts the window (cubic to
// 0.7, Reno and a fully marked DCTCP to 0.5), and the window grows back by
// about one segment per round trip. Signalled every round trip, as a
// per-packet threshold does while the backlog stays above it, the window
// sinks to its floor of 2 segments and the flow runs below the rate
// whenever the path is slow: cubic got 73% of 100 Mbit/s and 42% of
// 1 Gbit/s that way, BBR (which ignores the signals) 97-99%. So signals
// come at most once per three regrowths of a halved window that fills the
// rate at signalRTT:
//
//	3 x 0.5 x (rate x signalRTT / MSS segments) x signalRTT
//
// and at least signalMin apart. The excess of a sender whose window is
// too large costs nothing in accuracy: the packets beyond the drop
// threshold are dropped quietly and TCP resends them on the next ACK.
// TestVirtualQueueModel checks this derivation against simulated senders.
func signalSpacing(rate uint64) uint64 {
	segs := float64(rate) / 8 * signalRTT.Seconds() / signalMSS
	return max(uint64(signalMin), uint64(1.5*segs*float64(signalRTT)))
}

// lineTime is how long bytes take at cost (Config.CostPerByte), in ns,
// saturating at 2^62 rather than overflowing.
func lineTime(bytes, cost uint64) uint64 {
	hi, lo := bits.Mul64(bytes, cost)
	if hi>>bwprog.CostShift != 0 {
		return 1 << 62
	}
	return lo>>bwprog.CostShift | hi<<(64-bwprog.CostShift)
}

// dirConfig turns a rate (bits/s) and burst (bytes) into program settings.
func dirConfig(rate, burst uint64, edt bool) bwprog.Config {
	if rate == 0 {
		return bwprog.Config{}
	}
	cost := (uint64(8e9) << bwprog.CostShift) / rate
	ns := func(bytes uint64) uint64 { return lineTime(bytes, cost) }
	if burst == 0 {
		burst = max(rate/8/uint64(time.Second/burstTime), minBurstBytes)
	}
	c := bwprog.Config{
		CostPerByte: cost,
		BurstNs:     ns(burst),
		MarkNs:      max(uint64(markTime), ns(markBytes)),
		SmallLen:    smallPacket,
		SignalNs:    signalSpacing(rate),
	}
	c.DropNs = 2 * c.MarkNs
	c.CeilNs = c.DropNs + uint64(ceilExtra)
	// Traffic of no TCP socket (a UDP flood) drops from the mark threshold
	// on: it may ignore every signal, and it must leave TCP the room
	// between here and DropNs (on ingress, where nothing else protects a
	// TCP flow, a flood starved it). Beyond it such traffic still has half
	// the rate of its own (OtherCostPerByte), so TCP cannot starve it
	// either: greedy TCP and a flood share the rate half and half, and
	// either alone gets all of it.
	c.OtherDropNs = c.MarkNs
	c.OtherCostPerByte = 2 * cost
	// Flows of the cgroup share the rate: a flow within its equal share
	// passes where the flows beyond theirs meet the signals and drops.
	c.FairNs = c.MarkNs
	c.FairShift = fairShift
	// ... and each flow beyond its share is paced by its own TCP stack at
	// a share of the rate: the virtual queue cannot delay a packet, so
	// without it a flow's packets came in bursts that only drops could
	// shape, and whichever flow won the room freed by each drain took the
	// rate (16 BBR flows: Jain's index 0.18-0.46).
	c.PaceRate = uint64(paceHeadroom * float64(rate) / 8)
	if edt {
		c.Flags = bwprog.FlagEDT
		c.DropNs = uint64(edtHorizon)
		c.CeilNs = c.DropNs
		c.OtherDropNs, c.OtherCostPerByte = 0, 0
		c.FairNs, c.FairShift, c.PaceRate = 0, 0, 0
	}
	return c
}

// ingressConfig is dirConfig for ingress. A packet dropped on ingress is a
// loss the sender must repair, and a repair that is itself dropped costs a
// retransmission timeout (>= 200 ms) of silence. So the virtual queue may
// run ahead by more than a timeout's worth of line time before dropping
// (CeilNs, MarkNs+ingressQueue): the link then stays busy while the sender
// recovers. Marks (for ECN-capable flows) still start at the egress
// threshold. Long-term accuracy is unaffected: every passed byte is charged.
//
// Nothing can pace a remote sender, so the flows share by drops alone, and
// the drops fall on the flows beyond their fair share (bwprog's fair
// shares on ingress): a flow whose own tail, charged at N times the cost,
// runs more than FairNs (MarkNs+ingressFlowQueue) ahead of now has
// received more than its share over that much time, and its packets drop
// once the shared backlog passes DropNs (MarkNs+ingressGreedyDrop); the
// flows within their share still pass up to CeilNs. A lone flow's tail
// runs with the shared one, so it drops beyond FairNs, still more than a
// retransmission timeout out (there a flow dropped at 150 ms got 82% of
// the rate, at 200 ms and beyond 99-101%).
//
// The flows within their share must not meet the ceiling: their packets
// pass beyond DropNs, where the others' stop, and together they may run
// that backlog up by as much as their tails allow, FairNs plus the idle
// credit BurstNs, and by the packets that start within their tails:
// ingressPacketRoom leaves room for one full GSO packet of eight flows.
// So CeilNs is at least DropNs+FairNs+BurstNs+ingressPacketRoom. This
// decides the low rates, where MarkNs is two GSO packets' line time
// (105 ms at 10 Mbit/s). With CeilNs at MarkNs+ingressQueue (405 ms
// there) the ceiling dropped flows below their share, and BBR senders,
// which take a run of losses for a policer and then hold the rate they
// measured during it for 48 round trips (BBR's long-term bandwidth), held
// a tenth of their share for seconds (TCP_INFO's pacing rate, sampled):
// 16 BBR downloads at 10 Mbit/s read Jain 0.56-0.90 in six runs, the
// slowest flow at 15-23% of an equal share; 4 read 0.89-0.99, slowest
// 41-83%. Without the packet room (552 ms) 16 read 0.96-0.999 in nine
// runs, slowest 29-94%; with it (972 ms) 0.998-0.9986 in four, slowest
// 90-93%, and 4 flows 0.9998, cubic senders 1.0000 (4 and 16). The flow
// tails are kept within CeilNs too, so a flow may now run further into
// debt; 16 cubic downloads did not mind (Jain 1.0000 with CeilNs 800 ms).
// At 100 Mbit/s CeilNs is 363 ms, at 1 Gbit/s 308 ms (was 310 and
// 302); at 1 Gbit/s 4 and 16 downloads read Jain 0.9989-1.0000.
//
// Measured with 4 and 16 downloads at 100 Mbit/s (TestNetworkIngressFlows,
// Jain's index over 10 s, three runs each alternating with the old
// settings): cubic senders 0.9999-1.0000 (4 and 16 flows) against
// 0.93-0.96, BBR senders 0.9999-1.0000 (4) and 0.9988-0.9995 (16) against
// 0.85-0.97 and 0.74-0.90; the slowest flow at 90-100% of an equal share
// against 23-79%; the aggregate 98.9-101.1% against 99.5-101.1%. In five
// more runs, and in two beside two busy loops on this 2-CPU host, every
// case read Jain 0.992-1.000, the slowest flow (16 BBR senders) at least
// 67% of an equal share, the aggregate 99.5-101.2%. Tried
// and dropped: flows beyond their share dropped at 2 x MarkNs: Jain
// 0.96-0.996 but an aggregate of 40-60%; FairNs of MarkNs and DropNs
// MarkNs+120 ms (a flow counts as beyond its share after one GSO burst):
// 16 BBR flows 0.57-0.81, no better than before; FairNs 150 ms with the
// flow tails kept within CeilNs (310 ms): BBR 0.98-0.996 but 16 cubic
// flows 0.86-0.87 (a flow 160 ms in debt is dropped until it has paid it
// back) and a lone flow at 82%; FairNs 250 and 300 ms: cubic 0.995-0.999,
// 16 BBR flows 0.89-0.96 (a flow takes seconds to be told apart); FairNs
// 200 ms with the flow tails kept within 210 ms (CeilNs): 16 BBR flows
// 0.93-0.98. Those figures are for 100 Mbit/s, FairNs 200 ms; FairNs is
// 210 ms there now, so that it stays beyond a timeout at 1 Gbit/s, where
// MarkNs is 2 ms.
func ingressConfig(rate, burst uint64) bwprog.Config {
	c := dirConfig(rate, burst, false)
	c.PaceRate = 0 // pacing shapes what the cgroup sends, not what it receives
	if rate != 0 {
		c.DropNs = c.MarkNs + uint64(ingressGreedyDrop)
		c.FairNs = c.MarkNs + uint64(ingressFlowQueue)
		room := c.DropNs + c.FairNs + c.BurstNs + lineTime(ingressPacketRoom, c.CostPerByte)
		c.CeilNs = max(c.MarkNs+uint64(ingressQueue), room)
	}
	return c
}
