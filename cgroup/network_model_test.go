package cgroup

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/bwprog"
)

// A model of the virtual-queue limiter (tier 1, pure Go): vqModel decides
// like the egress program in virtual-queue mode (internal/bwprog/prog.go),
// and modelSender is a window-based TCP sender on a path with no queue of
// its own (a veth: the packet is delivered as soon as it passes), with a
// round trip drawn from a trace. TestVirtualQueueModel runs them against
// each other, so the thresholds' derivation (signalSpacing) is checked on
// senders and paths of different burstiness, not only on one host.

type vqVerdict int

const (
	vqPass vqVerdict = iota
	vqPassSignal
	vqDropQuiet
	vqDropSignal
)

type vqModel struct {
	c          bwprog.Config
	tail, last int64 // virtual tail and time of the last signal (ns)
}

// send charges a packet of wire bytes at now; tcpOut is the socket's
// packets in flight plus one (0: not TCP), as in the program's fpTCP.
func (q *vqModel) send(now int64, wire uint64, tcpOut uint64) vqVerdict {
	cost := int64((wire * q.c.CostPerByte) >> bwprog.CostShift)
	if q.tail < now-int64(q.c.BurstNs) {
		q.tail = now - int64(q.c.BurstNs)
	}
	q.tail += cost
	backlog := q.tail - now
	due := func() bool {
		if uint64(now-q.last) < q.c.SignalNs {
			return false
		}
		q.last = now
		return true
	}
	switch {
	case backlog <= int64(q.c.MarkNs):
		return vqPass
	case tcpOut == 0 && q.c.OtherDropNs != 0: // the share (OtherCostPerByte) is not modelled: the senders are TCP
		if backlog <= int64(q.c.OtherDropNs) {
			if due() {
				return vqPassSignal
			}
			return vqPass
		}
	case backlog <= int64(q.c.DropNs) || tcpOut > 0 &&
		uint64(backlog-int64(q.c.DropNs))*tcpOut <= q.c.CeilNs-q.c.DropNs: // tcpRoom
		if due() {
			return vqPassSignal
		}
		return vqPass
	}
	q.tail -= cost
	if tcpOut == 0 || due() {
		return vqDropSignal
	}
	return vqDropQuiet
}

// modelSender is a TCP sender: a congestion window in segments that grows
// by one segment per window acknowledged (Reno's and, at these round
// trips, cubic's TCP-friendly growth) and is cut to beta on a congestion
// signal, at most once per round trip (CWR); beta 1 ignores signals (BBR
// does, for the purpose of its window). It always has data. A packet is
// min(window room, 44) segments (a 64 KiB GSO packet).
type modelSender struct {
	beta     float64
	cwnd     float64
	inflight int
	cwrUntil int64 // CWR ends when the data sent before this time is acked
}

type ackEvent struct {
	at, sent int64
	segs     int
}

type ackQueue []ackEvent

func (q ackQueue) Len() int           { return len(q) }
func (q ackQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q ackQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *ackQueue) Push(x any)        { *q = append(*q, x.(ackEvent)) }
func (q *ackQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// rttTrace draws the round trip (ns) of a packet sent at now.
type rttTrace func(r *rand.Rand, now int64) int64

// simulate runs the sender against the limiter for d and returns the
// goodput as a fraction of the ideal, measured from 1 s on.
func simulate(c bwprog.Config, rate uint64, s modelSender, trace rttTrace, d time.Duration) float64 {
	const probeTimer = int64(200 * time.Millisecond)
	rng := rand.New(rand.NewPCG(1, 2))
	q := vqModel{c: c}
	s.cwnd = 10
	var acks ackQueue
	var now, delivered, from int64
	start := int64(time.Second)
	for now < int64(d) {
		// Send while the window has room; stop at a drop.
		stalled := false
		for !stalled && float64(s.inflight) < s.cwnd {
			segs := min(int(s.cwnd)-s.inflight, 44)
			if segs <= 0 {
				break
			}
			v := q.send(now, uint64(segs*bedWire), uint64(s.inflight)+1)
			if v == vqPassSignal || v == vqDropSignal {
				if s.beta < 1 && s.cwrUntil == 0 { // not in CWR already
					s.cwnd = max(2, s.cwnd*s.beta)
					s.cwrUntil = max(now, 1)
				}
			}
			if v == vqDropQuiet || v == vqDropSignal {
				stalled = true
				break
			}
			s.inflight += segs
			heap.Push(&acks, ackEvent{at: now + trace(rng, now), sent: now, segs: segs})
		}
		// Next event: an ACK, or the probe timer when nothing is in flight.
		if acks.Len() == 0 {
			now += probeTimer
			continue
		}
		a := heap.Pop(&acks).(ackEvent)
		now = max(now, a.at)
		s.inflight -= a.segs
		if now >= start {
			delivered += int64(a.segs)
		} else {
			from = now
		}
		if s.cwrUntil != 0 && a.sent >= s.cwrUntil {
			s.cwrUntil = 0
		}
		if s.cwrUntil == 0 && !stalled {
			s.cwnd += float64(a.segs) / s.cwnd
		}
	}
	secs := float64(now-max(from, start)) / 1e9
	return float64(delivered) * bedMSS / secs / idealGoodput(rate)
}

// TestVirtualQueueModel: with the derived signal spacing every simulated
// sender (Reno-like beta 0.5, cubic-like 0.7, signal-blind like BBR) gets
// 97-101% of the rate at 10, 100 and 1000 Mbit/s on paths whose round trip
// is steady, jittery, bursty (mostly fast with millisecond stalls) or
// alternates between fast and slow phases, as a loaded host schedules the
// sink. Each run is 31 s measured from 1 s on, so the backlog's possible
// change (CeilNs+BurstNs, 1-2% over 30 s) is allowed above 101%.
//
// What the model does not do (yet): reproduce issue 16's starvation under
// per-packet signals. Its senders, signalled per packet, still reach
// 98-100% (logged for comparison), while on the host cubic and reno sat at
// cwnd 2 in CWR and got 72-73%. Not the CWR rule: the model cut on every
// signal, CWR or not, until this was fixed, and reached the same figures.
// What it does differently: in fast phases its window-2 sender, whose
// packets find nothing of theirs in flight, banks backlog up to CeilNs and
// spends it in the slow phases, so no line time is lost; something in the
// kernel's sender (TSO autosizing, TSQ, cwnd validation) keeps it from
// doing so. The host test TestNetworkGoodputCC covers it.
func TestVirtualQueueModel(t *testing.T) {
	us := func(n float64) int64 { return int64(n * 1e3) }
	traces := []struct {
		name string
		rtt  rttTrace
	}{
		{"steady-50us", func(*rand.Rand, int64) int64 { return us(50) }},
		{"jitter-50-500us", func(r *rand.Rand, _ int64) int64 { return us(50 + 450*r.Float64()) }},
		{"bursty-1pct-2ms", func(r *rand.Rand, _ int64) int64 {
			if r.IntN(100) == 0 {
				return us(2000)
			}
			return us(60)
		}},
		{"slow-1ms", func(r *rand.Rand, _ int64) int64 { return us(800 + 400*r.Float64()) }},
		// Phases, as the host's traces showed (srtt 7 us for a while, then
		// hundreds of microseconds while the sink waits for a CPU): 20 ms
		// fast, 20 ms slow.
		{"phases-10us-300us", func(r *rand.Rand, now int64) int64 {
			if now/int64(20*time.Millisecond)%2 == 0 {
				return us(10 + 10*r.Float64())
			}
			return us(300 + 100*r.Float64())
		}},
		{"phases-10us-1ms", func(r *rand.Rand, now int64) int64 {
			if now/int64(20*time.Millisecond)%2 == 0 {
				return us(10 + 10*r.Float64())
			}
			return us(900 + 200*r.Float64())
		}},
		{"phases-1ms-10us-300us", func(r *rand.Rand, now int64) int64 {
			if now/int64(time.Millisecond)%4 == 0 {
				return us(10 + 10*r.Float64())
			}
			return us(200 + 200*r.Float64())
		}},
	}
	senders := []struct {
		name string
		beta float64
	}{{"reno", 0.5}, {"cubic", 0.7}, {"bbr", 1}}
	for _, rate := range []uint64{10e6, 100e6, 1000e6} {
		for _, tr := range traces {
			for _, sd := range senders {
				c := dirConfig(rate, 0, false)
				const run = 31 * time.Second
				got := simulate(c, rate, modelSender{beta: sd.beta}, tr.rtt, run)
				c0 := c
				c0.SignalNs = 0
				old := simulate(c0, rate, modelSender{beta: sd.beta}, tr.rtt, 11*time.Second)
				name := fmt.Sprintf("%s/%s/%s", FormatRate(rate), tr.name, sd.name)
				t.Logf("%-36s spaced %.1f%%  (per-packet, 10 s: %.1f%%)", name, 100*got, 100*old)
				high := 1.01 + float64(c.CeilNs+c.BurstNs)/float64(run-time.Second)
				if got < 0.97 || got > high {
					t.Errorf("%s: %.1f%% of ideal with signal spacing %v, want 97-%.1f%%",
						name, 100*got, time.Duration(c.SignalNs), 100*high)
				}
			}
		}
	}
}
