// Package bwprog holds confine's per-cgroup bandwidth limiter: two
// cgroup_skb eBPF programs (egress and ingress) and a sock_ops program
// pacing each TCP socket at its share (see Fair shares), written with
// cilium/ebpf's asm package, their maps, and the attach/pin/adopt/update
// logic.
//
// # Design
//
// Each limited cgroup gets three maps, each keyed by Direction: a config
// array, a state array holding the virtual tail (the time the last charged
// byte would leave a link of the configured rate), and a per-CPU counter
// array (and the flow records of Fair shares, below); and one program per
// direction plus the pacing program, attached as bpf_links and pinned with
// the maps in one directory. Userspace writes Config whole; the
// programs only read it, so a rate change is one map update. The tail is
// the only value CPUs share, and a packet touches it with one atomic
// instruction: a fetch-add while the limiter is busy, a compare-and-exchange
// that restarts it at now-burst after idleness. So concurrent CPUs never
// lose each other's bytes and no spin lock is needed (bpf_spin_lock would
// need BTF for the map value, which asm-built maps do not carry). The
// egress and ingress tails lie in different cache lines, and each CPU
// counts in its own copy of the counters.
//
// A packet costs its Ethernet wire size (GSO packets: every segment's
// headers, read from the packet without a helper call) times the per-byte
// time. Then:
//   - EDT mode (Config.Flags&FlagEDT, egress only): skb->tstamp is set to the
//     start of the packet's slot; an fq qdisc on the egress device holds it
//     until then. Beyond the horizon (Config.DropNs) the packet is dropped
//     with congestion notification. The program cannot see the qdisc, so
//     userspace sets the flag when it knows fq is installed.
//   - Virtual-queue mode: nothing is delayed. Below Config.MarkNs of virtual
//     backlog a packet passes; up to Config.DropNs it passes, and at most
//     one packet per Config.SignalNs carries a congestion signal: ECN CE
//     (if ECN-capable) and, on egress, congestion notification (TCP enters
//     CWR). Beyond, it is dropped. An egress drop is not a loss: TCP keeps
//     the segment and resends it on the next ACK; it notifies congestion
//     only when a signal is due (a TCP window cut every round trip would
//     starve the flow, see cgroup's signalSpacing), and always for
//     non-TCP packets (a UDP sender then sees ENOBUFS, not EPERM).
//     Userspace chooses the thresholds per direction: on ingress, where a
//     drop is a real loss, the flows within their fair share pass until
//     the backlog reaches CeilNs, further out (see Fair shares).
//     Packets of no TCP socket (UDP, ICMP, raw) drop beyond
//     Config.OtherDropNs, below DropNs: a flood that ignores every signal
//     then leaves TCP the room above it, so a TCP flow of the same cgroup
//     keeps getting through; and beyond OtherDropNs such packets still pass
//     on a share of their own (Config.OtherCostPerByte, a second tail), so
//     TCP cannot starve them either.
//
// Small packets (skb->len <= Config.SmallLen: ACKs, SYNs, pings) are
// charged but pass unmarked while the backlog is below Config.CeilNs, and a
// TCP socket with nothing in flight is not dropped below that backlog
// either: with no ACK to come, it would wait for its probe timer
// (>= 200 ms). Between DropNs and CeilNs an egress TCP packet passes while
// (backlog-DropNs) x (1+packets_out) <= CeilNs-DropNs: the fewer its socket
// has in flight, the further out it may go, so a flow that fell behind its
// neighbours in the cgroup gets through where they drop. So no flow
// starves, and a flood of small packets is still held to the rate: beyond
// the ceiling they drop too.
//
// # Fair shares
//
// With Config.FairNs set (virtual-queue mode), the flows of a cgroup share
// its rate evenly while the limiter is saturated. Each TCP socket gets a
// record in a socket-local storage map (freed by the kernel with the
// socket; the map needs BTF, which cilium/ebpf generates): its own virtual
// tail and the flow epoch (2^Config.FairShift ns) it was last counted in.
// Every data packet a socket sends while the shared tail runs ahead of now
// counts the socket once per epoch and is charged to the socket's tail at
// N times its cost, N being the larger of this and the last epoch's count:
// the socket's tail then runs at an equal share of the rate. A packet that
// starts no more than FairNs ahead of now on its socket's tail is within
// the share and passes unmarked up to CeilNs; the packets of flows beyond
// their share meet the signals and drops above. The counting takes one
// compare-and-exchange per epoch and one atomic add per flow and epoch;
// the tails are per socket, so CPUs do not share them. The EDT mode leaves
// fairness to the fq qdisc.
//
// On ingress the same tails make a per-flow policer, the only fairness a
// limiter that can only drop can give (no signal reaches a remote sender
// but a loss, and BBR senders hardly answer even that: a policer dropping
// by arrival order gives the room to whichever flow arrives when there is
// some, and four BBR downloads shared with Jain's index 0.59-0.97). A
// flow's tail, charged at N times the cost of each packet that arrives
// while the limiter is saturated and never less than now-burst, runs
// ahead of now by as much time as the flow took beyond 1/N of the rate
// since it last kept within it: it integrates the flow's excess. So
// userspace sets a long FairNs on ingress (some 200 ms: a token bucket per
// flow that deep at its equal share) and a DropNs below it: a packet of a
// flow more than FairNs ahead drops once the shared backlog passes DropNs,
// while the packets of every flow within its share pass until the shared
// backlog reaches CeilNs. The drops fall on the flows that took more than
// their share, and only while the cgroup as a whole is beyond its rate, so
// a flow below its share leaves the rest to the others. The flow tail is
// kept within CeilNs of now, so a flow is never more than CeilNs-FairNs
// in debt: it passes again soon after it falls back to its share. A lone
// flow's tail runs with the shared one, so it drops beyond FairNs. An
// ECN-capable flow still sees marks before drops: on ingress a packet
// within its share by FairNs but more than MarkNs ahead on its flow's tail
// is marked like one beyond its share, up to CeilNs. The per-socket
// records make this exact per flow at no cost beyond the
// egress side's (no hash map keyed by addresses, no eviction), since on
// ingress the hook runs with the receiving socket.
//
// The virtual queue cannot delay a packet, so on its own it shapes a
// flow's bursts only by dropping them, and the flow that wins the room
// each drain frees takes the rate. So a third program (sock_ops, attached
// to the same cgroup) has each socket's own TCP stack pace it: on every
// round-trip sample of a TCP socket it caps the socket's pacing rate
// (SO_MAX_PACING_RATE, which also turns on TCP's internal pacing where no
// fq qdisc paces) at Config.PaceRate divided by the flows that went beyond
// their share in this or the last epoch (a flow is counted there once per
// epoch, the first time one of its packets starts more than FairNs ahead
// on its tail). A flow that sends less than its share is not counted, so
// it does not shrink the others' caps; PaceRate is set above the rate, so
// the caps of the counted flows add up to more than the rest of it and
// the queue stays saturated. The cap last set is kept in the socket's
// record and written again only when it changes; a rate change or a
// removed limit (PaceRate 0) reaches each socket on its next round-trip
// sample.
//
// The sock_ops program sees only connections established after it was
// attached (the round-trip callback is asked for when the connection is
// established), and it owns SO_MAX_PACING_RATE of the sockets it caps: a
// cap the application set itself is replaced while a limit applies, and
// "unlimited" is restored when the limit is lifted. When the limiter is
// detached (the cgroup's Delete) a socket that outlived it keeps its last
// cap.
//
// # Kernel requirements
//
// Linux 5.12 (BPF atomics); bpf_link for cgroups (5.7) for pinning; a BPF
// filesystem for the pin directory. The pacing program needs sock_ops'
// socket pointer and round-trip callback (5.3) and socket storage from
// sock_ops, all older than 5.12. Supported reports what is missing as an
// error matching internal.ErrNotSupported.
//
// # When not to use it
//
// The limiter sees only sockets whose cgroup is the limited one (the cgroup
// of the process that created the socket). Traffic of sockets created
// elsewhere and passed in is not limited.
package bwprog
