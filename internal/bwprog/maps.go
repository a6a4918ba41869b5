package bwprog

// Direction selects the egress or ingress limiter; it is also the key of
// every map.
type Direction uint32

const (
	// Egress limits packets the cgroup's sockets send.
	Egress Direction = 0
	// Ingress limits packets delivered to the cgroup's sockets.
	Ingress Direction = 1
)

func (d Direction) String() string {
	if d == Ingress {
		return "ingress"
	}
	return "egress"
}

// CostShift scales Config.CostPerByte: the cost of a packet in nanoseconds
// is wire bytes * CostPerByte >> CostShift. 2^20 keeps 6 significant digits
// at 100 Gbit/s and no overflow for 512 KiB packets at MinRate.
const CostShift = 20

// MinRate is the smallest rate in bits/s the programs can represent
// without overflowing the per-packet cost computation.
const MinRate = 1000

// Flag bits of Config.Flags.
const (
	// FlagEDT selects earliest-departure-time mode: the program sets
	// skb->tstamp and relies on an fq qdisc on the egress device to hold
	// the packet until then. Without it the virtual-queue mode is used.
	FlagEDT = 1 << 0
)

// Config is one direction's settings (value of the config map). Userspace
// writes it whole; the program only reads it. A torn read during an update
// affects at most the packets in flight during the write.
type Config struct {
	CostPerByte uint64 // ns per byte << CostShift; 0 = no limit (count only)
	BurstNs     uint64 // credit kept for an idle cgroup, in ns of line time
	MarkNs      uint64 // virtual backlog beyond which packets get CE/CN
	DropNs      uint64 // backlog (EDT: departure horizon) beyond which packets drop
	Flags       uint64 // FlagEDT
	SmallLen    uint64 // packets with skb->len <= SmallLen pass unmarked below CeilNs
	CeilNs      uint64 // backlog up to which small packets and idle TCP sockets still pass
	// SignalNs spaces the virtual queue's congestion signals: at most one
	// packet per SignalNs (per direction, summed over all CPUs and flows)
	// carries CE or congestion notification, and a TCP packet dropped
	// between signals is dropped without notification. 0 signals every
	// packet beyond MarkNs.
	SignalNs uint64
	// OtherDropNs is the virtual-queue drop threshold for packets of no
	// TCP socket (UDP, ICMP, raw), at most DropNs. Such traffic need not
	// answer congestion signals; when it keeps the queue filled up to
	// OtherDropNs, TCP packets still find DropNs-OtherDropNs of room, so a
	// TCP flow beside a flood keeps getting through, and the flood is held
	// to what the TCP flows leave. 0 means DropNs (no distinction).
	OtherDropNs uint64
	// OtherCostPerByte (scaled like CostPerByte) guarantees traffic of no
	// TCP socket a share of the rate however full TCP keeps the queue: such
	// a packet beyond OtherDropNs still passes while a second virtual tail,
	// charged only by these passes at OtherCostPerByte, is within
	// OtherDropNs of now. Twice CostPerByte guarantees half the rate; TCP,
	// finding the shared queue fuller, yields it. 0: no guarantee.
	OtherCostPerByte uint64
	// FairNs turns on per-flow fair shares (virtual-queue mode): every TCP
	// socket of the cgroup that sent (received) a data packet in the
	// current or the previous flow epoch counts as an active flow, and
	// each of the N active flows keeps a virtual tail of its own charged
	// at N times the cost, i.e. at an equal share of the rate. A packet
	// whose start on its flow's tail lies at most FairNs after now is
	// within its flow's share: it passes unmarked while the shared backlog
	// is below CeilNs. Packets of flows beyond their share meet the
	// signals and drops of the shared queue as before. 0 turns it off.
	FairNs uint64
	// FairShift sets the flow epoch: 2^FairShift ns (28: 268 ms). A flow
	// counts as active for one to two epochs after its last packet.
	FairShift uint64
	// PaceRate (egress, with FairNs) caps each TCP socket's pacing rate
	// at PaceRate/N bytes/s, N being the active flows (see FairNs), by a
	// sock_ops program setting SO_MAX_PACING_RATE on every round-trip
	// sample: the socket's own stack then spaces its packets at its share.
	// Set somewhat above the rate, so that the virtual queue stays
	// saturated and flows that use less than their cap leave the rest to
	// the others. 0: no cap (and a cap set before is lifted). Ingress
	// ignores it.
	PaceRate uint64
}

// State is one direction's running state and counters as Limiter.Stats
// reports them: the virtual tail from the shared state map and the
// counters summed over the per-CPU counter map.
type State struct {
	Tail uint64 // virtual departure time of the last charged byte (ktime ns)
	Counters
}

// Counters are one direction's counters (value of the per-CPU counter
// map). Each CPU counts in its own copy, so the programs never contend for
// a cache line over them; they still add atomically, since a softirq may
// interrupt a program in process context on the same CPU.
type Counters struct {
	PassBytes    uint64 // wire bytes passed
	PassPackets  uint64 // packets passed (a GSO packet counts once)
	Delayed      uint64 // packets given a later departure time (EDT)
	Marked       uint64 // packets passed with a congestion signal: CE set, or on egress notification
	DropPackets  uint64 // packets dropped
	DropBytes    uint64 // wire bytes dropped
	PassSegments uint64 // segments passed (gso_segs summed)
}

func (c *Counters) add(o Counters) {
	c.PassBytes += o.PassBytes
	c.PassPackets += o.PassPackets
	c.Delayed += o.Delayed
	c.Marked += o.Marked
	c.DropPackets += o.DropPackets
	c.DropBytes += o.DropBytes
	c.PassSegments += o.PassSegments
}

// Field offsets of Config, the state map value and Counters, used by the
// program.
const (
	cfgCost   = 0
	cfgBurst  = 8
	cfgMark   = 16
	cfgDrop   = 24
	cfgFlags  = 32
	cfgSmall  = 40
	cfgCeil   = 48
	cfgSignal = 56
	cfgOther  = 64
	cfgOCost  = 72
	cfgFair   = 80
	cfgFShift = 88
	cfgPace   = 96
	cfgSize   = 104

	// The state map value is the tail and the time of the last signal,
	// padded so that the egress and ingress tails (written by different
	// CPUs) never share a cache line.
	stTail   = 0
	stSignal = 8  // ktime of the last congestion signal
	stOther  = 16 // virtual tail of the non-TCP share (OtherCostPerByte)
	stEpoch  = 24 // the current flow epoch (ktime >> FairShift)
	stFlows  = 32 // flows seen in the current epoch
	stFlowsP = 40 // flows seen in the previous epoch
	stGreedy = 48 // flows beyond their share in the current epoch
	stGreedP = 56 // flows beyond their share in the previous epoch
	stSize   = 128

	// The flow map's value is one flowSize record per direction: the
	// flow's own virtual tail, the epoch it was last counted in, and the
	// epoch it was last counted beyond its share in; then the pacing cap
	// last set on the socket (flPaced, from the start of the value), 0 if
	// none.
	flTail    = 0
	flEpoch   = 8
	flGreedy  = 16
	flowSize  = 24
	flPaced   = 2 * flowSize
	flowValue = flPaced + 8

	ctPassBytes = 0
	ctPassPkts  = 8
	ctDelayed   = 16
	ctMarked    = 24
	ctDropPkts  = 32
	ctDropBytes = 40
	ctPassSegs  = 48
	ctSize      = 56
)

// L2Overhead is added per segment to the L3 length the cgroup hook sees:
// the Ethernet header, so that a limit of R bits/s gives the same goodput
// as tbf or htb on an Ethernet or veth device.
const L2Overhead = 14
