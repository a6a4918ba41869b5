package bwprog

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Offsets in struct __sk_buff and struct bpf_tcp_sock (include/uapi/linux/bpf.h).
const (
	skbLen      = 0
	skbData     = 76
	skbDataEnd  = 80
	skbTstamp   = 152
	skbGsoSegs  = 164 // 5.1
	skbSk       = 168
	tcpPktsOut  = 44
	protoTCP    = 6
	protoUDP    = 17
	defaultHdr  = 52 // IPv4 + TCP with timestamps, when headers cannot be read
	programName = "confine_bw"
)

// Stack slots (offsets from R10).
const (
	fpKey    = -4
	fpWire   = -16
	fpNow    = -24
	fpCost   = -32
	fpOld    = -40
	fpSegs   = -48
	fpState  = -56 // pointer to this direction's state map value
	fpBacklg = -64
	fpTCP    = -72  // 1 + packets_out of the packet's TCP socket, 0 if none or unknown
	fpShare  = -80  // the packet's cost at Config.OtherCostPerByte
	fpFairC  = -88  // the packet's cost on its flow's tail (N x fpCost)
	fpAhead  = -96  // signed: the packet's start on its flow's tail - now
	fpEpoch  = -104 // the flow epoch of this packet (fairShare)
)

// skStorageGetCreate is BPF_SK_STORAGE_GET_F_CREATE.
const skStorageGetCreate = 1

// Return codes of cgroup_skb programs. Egress may add congestion
// notification (bit 1, kernel 5.1, commit 1f52f6c0b0e2 "bpf: Update
// BPF_CGROUP_RUN_PROG_INET_EGRESS calls"): TCP answers it with
// tcp_enter_cwr, i.e. it reduces its congestion window without a loss.
const (
	retDrop   = 0
	retPass   = 1
	retDropCN = 2
	retPassCN = 3
)

// spec returns the program for one direction over the maps m, keyed by
// Direction.
func spec(dir Direction, m *maps) *ebpf.ProgramSpec {
	attach := ebpf.AttachCGroupInetEgress
	if dir == Ingress {
		attach = ebpf.AttachCGroupInetIngress
	}
	var insns asm.Instructions
	insns = append(insns, lookups(dir, m)...)
	insns = append(insns, wireLen()...)
	insns = append(insns, charge(m)...)
	if dir == Egress {
		insns = append(insns, edt()...)
	}
	insns = append(insns, virtualQueue(dir, m)...)
	insns = append(insns, small()...)
	insns = append(insns, exits(dir)...)
	return &ebpf.ProgramSpec{
		Name:         programName + "_" + dir.String()[:2],
		Type:         ebpf.CGroupSKB,
		AttachType:   attach,
		License:      "GPL",
		Instructions: insns,
	}
}

// lookup: R0 = pointer to the value of key fpKey in m, or pass_raw.
func lookup(m *ebpf.Map) asm.Instructions { return lookupOr(m, "pass_raw") }

// lookupOr: R0 = pointer to the value of key fpKey in m, or jump to
// missing.
func lookupOr(m *ebpf.Map, missing string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, missing),
	}
}

// lookups: R6 = ctx, R7 = config, R8 = this CPU's counters. Missing
// entries pass. Array lookups are inlined by the verifier (per-CPU arrays
// since 6.10), so these cost a bounds check each.
func lookups(dir Direction, m *maps) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, fpKey, int64(dir), asm.Word),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, fpTCP, asm.R1, asm.DWord),
	}
	insns = append(insns, lookup(m.config)...)
	insns = append(insns, asm.Mov.Reg(asm.R7, asm.R0))
	insns = append(insns, lookup(m.counters)...)
	return append(insns, asm.Mov.Reg(asm.R8, asm.R0))
}

// wireLen stores in R9 and fpWire the bytes the packet occupies on an
// Ethernet wire: len + segs*L2Overhead + (segs-1)*(L3+L4 header), since a
// GSO packet's headers are replicated in every segment. The header length
// is read from the packet directly (the hook sees it from the L3 header:
// IPv4 IHL or IPv6's fixed 40, plus TCP data offset or UDP's 8);
// defaultHdr is used when the headers are not in the linear part. Only
// GSO packets need it. gso_segs is in __sk_buff since 5.1 (commit
// d9ff286a0f59), direct packet reads in cgroup_skb since 4.20.
func wireLen() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R6, skbGsoSegs, asm.Word),
		asm.JNE.Imm(asm.R1, 0, "have_segs"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, fpSegs, asm.R1, asm.DWord).WithSymbol("have_segs"),
		asm.LoadMem(asm.R9, asm.R6, skbLen, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Mul.Imm(asm.R2, L2Overhead),
		asm.Add.Reg(asm.R9, asm.R2),
		asm.JLE.Imm(asm.R1, 1, "wire_done"),
		// R1 = segs from here on; R3 = header bytes per segment.
		asm.Mov.Imm(asm.R3, defaultHdr),
		asm.LoadMem(asm.R4, asm.R6, skbData, asm.Word),
		asm.LoadMem(asm.R5, asm.R6, skbDataEnd, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R4),
		asm.Add.Imm(asm.R2, 20),
		asm.JGT.Reg(asm.R2, asm.R5, "hdr_done"),
		asm.LoadMem(asm.R2, asm.R4, 0, asm.Byte),
		asm.Mov.Reg(asm.R0, asm.R2),
		asm.RSh.Imm(asm.R0, 4),
		asm.JEq.Imm(asm.R0, 6, "ipv6"),
		asm.JNE.Imm(asm.R0, 4, "hdr_done"),
		asm.And.Imm(asm.R2, 0xf),
		asm.LSh.Imm(asm.R2, 2),
		asm.LoadMem(asm.R0, asm.R4, 9, asm.Byte),
		asm.Ja.Label("l4"),
		asm.Mov.Imm(asm.R2, 40).WithSymbol("ipv6"),
		asm.LoadMem(asm.R0, asm.R4, 6, asm.Byte),
		asm.Mov.Reg(asm.R3, asm.R2).WithSymbol("l4"),
		asm.JNE.Imm(asm.R0, protoUDP, "not_udp"),
		asm.Add.Imm(asm.R3, 8),
		asm.Ja.Label("hdr_done"),
		asm.JNE.Imm(asm.R0, protoTCP, "hdr_done").WithSymbol("not_udp"),
		// TCP: data offset is the high nibble of byte 12.
		asm.Add.Reg(asm.R4, asm.R2),
		asm.Mov.Reg(asm.R0, asm.R4),
		asm.Add.Imm(asm.R0, 13),
		asm.JGT.Reg(asm.R0, asm.R5, "tcp_unread"),
		asm.LoadMem(asm.R0, asm.R4, 12, asm.Byte),
		asm.RSh.Imm(asm.R0, 4),
		asm.LSh.Imm(asm.R0, 2),
		asm.Add.Reg(asm.R3, asm.R0),
		asm.Ja.Label("hdr_done"),
		asm.Mov.Imm(asm.R3, defaultHdr).WithSymbol("tcp_unread"),
		asm.Sub.Imm(asm.R1, 1).WithSymbol("hdr_done"),
		asm.Mul.Reg(asm.R1, asm.R3),
		asm.Add.Reg(asm.R9, asm.R1),
		asm.StoreMem(asm.RFP, fpWire, asm.R9, asm.DWord).WithSymbol("wire_done"),
	}
}

// charge adds the packet's cost to the virtual tail with one atomic
// instruction (BPF_ATOMIC fetch and cmpxchg need 5.12, commit
// 5ca419f2864a), so concurrent senders never lose each other's bytes. A
// tail older than now-burst (an idle or underused link) is replaced by
// now-burst+cost with compare-and-exchange; a busy tail is advanced with
// fetch-add, as is any tail whose exchange lost a race (the winner raised
// it). fpOld gets the tail before this packet, fpBacklg the signed
// backlog in ns after it. Unlimited directions only count.
func charge(m *maps) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, cfgCost, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "pass"),
		asm.Mul.Reg(asm.R1, asm.R9),
		asm.RSh.Imm(asm.R1, CostShift),
		asm.StoreMem(asm.RFP, fpCost, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R9, 0), // the flow record, once fairShare found one
	}
	insns = append(insns,
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.RFP, fpNow, asm.R0, asm.DWord),
	)
	insns = append(insns, lookup(m.state)...)
	return append(insns,
		asm.StoreMem(asm.RFP, fpState, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.LoadMem(asm.R1, asm.RFP, fpNow, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, cfgBurst, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R0, asm.R3, stTail, asm.DWord),
		asm.JSGE.Reg(asm.R0, asm.R1, "busy"),
		asm.Mov.Reg(asm.R4, asm.R0),
		asm.LoadMem(asm.R2, asm.RFP, fpCost, asm.DWord),
		asm.Add.Reg(asm.R2, asm.R1),
		cmpXchg(asm.R3, asm.R2, stTail),
		asm.JNE.Reg(asm.R0, asm.R4, "busy"),
		asm.StoreMem(asm.RFP, fpOld, asm.R1, asm.DWord),
		asm.Ja.Label("charged"),
		asm.LoadMem(asm.R1, asm.RFP, fpCost, asm.DWord).WithSymbol("busy"),
		fetchAdd(asm.R3, asm.R1, stTail),
		asm.StoreMem(asm.RFP, fpOld, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, fpOld, asm.DWord).WithSymbol("charged"),
		asm.LoadMem(asm.R2, asm.RFP, fpCost, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.RFP, fpNow, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.RFP, fpBacklg, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word),
		asm.LoadMem(asm.R2, asm.R7, cfgSmall, asm.DWord),
		asm.JLE.Reg(asm.R1, asm.R2, "small"),
	)
}

// small: packets of at most Config.SmallLen bytes (ACKs, SYNs, pings) are
// charged but pass undelayed and unmarked while the backlog is below
// Config.CeilNs; beyond it they drop like any other, so that a flood of
// small packets is held to the rate too.
func small() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord).WithSymbol("small"),
		asm.LoadMem(asm.R2, asm.R7, cfgCeil, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "pass"),
		asm.Ja.Label("drop_undo"),
	}
}

// tcpState records in fpTCP 1 + packets_out of the packet's socket when
// it is a TCP socket (bpf_tcp_sock, 5.1), and leaves 0 otherwise. On
// ingress the socket is the receiving one (the cgroup hook runs with the
// socket the packet is delivered to).
func tcpState(prefix string) asm.Instructions {
	done := prefix + "_classified"
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R6, skbSk, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, done),
		asm.FnSkFullsock.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.FnTcpSock.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, tcpPktsOut, asm.Word),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, fpTCP, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done),
	}
}

// idleTCP jumps to protected when tcpState found a TCP socket with nothing
// in flight and the backlog is below Config.CeilNs. Dropping such a packet
// stalls the socket until its probe timer (>= 200 ms), since no ACK will
// come to trigger a new attempt.
func idleTCP(prefix, protected string) asm.Instructions {
	no := prefix + "_busy_tcp"
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpTCP, asm.DWord),
		asm.JNE.Imm(asm.R1, 1, no),
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, cfgCeil, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, protected),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(no),
	}
}

// signalDue falls through, having claimed the signal, when Config.SignalNs
// has passed since the direction's last congestion signal; otherwise it
// jumps to notDue. Two CPUs may both claim one interval: an extra signal,
// not a lost one, so a plain store suffices.
func signalDue(notDue string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R3, asm.RFP, fpState, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, fpNow, asm.DWord),
		asm.LoadMem(asm.R2, asm.R3, stSignal, asm.DWord),
		asm.Sub.Reg(asm.R2, asm.R1),
		asm.Neg.Imm(asm.R2, 0), // now - last
		asm.LoadMem(asm.R4, asm.R7, cfgSignal, asm.DWord),
		asm.JLT.Reg(asm.R2, asm.R4, notDue),
		asm.StoreMem(asm.R3, stSignal, asm.R1, asm.DWord),
	}
}

// edt (egress, FlagEDT): the packet departs at the start of its slot, or
// now if that has passed; fq holds it until then. Beyond the horizon it
// is dropped with congestion notification.
func edt() asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, cfgFlags, asm.DWord),
		asm.And.Imm(asm.R1, FlagEDT),
		asm.JEq.Imm(asm.R1, 0, "vq"),
		asm.LoadMem(asm.R1, asm.RFP, fpOld, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, fpNow, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "pass"),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.R7, cfgDrop, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "edt_set"),
	}
	insns = append(insns, tcpState("edt")...)
	insns = append(insns, idleTCP("edt", "edt_set")...)
	return append(insns,
		asm.Ja.Label("drop_undo"),
		asm.LoadMem(asm.R1, asm.RFP, fpOld, asm.DWord).WithSymbol("edt_set"),
		asm.LoadMem(asm.R2, asm.R6, skbTstamp, asm.DWord),
		asm.JGE.Reg(asm.R2, asm.R1, "edt_counted"),
		asm.StoreMem(asm.R6, skbTstamp, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R1, 1).WithSymbol("edt_counted"),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, ctDelayed),
		asm.Ja.Label("pass"),
	)
}

// tcpRoom jumps to protected when the packet's TCP socket has few enough
// packets in flight for the backlog: beyond DropNs a TCP packet still
// passes while (backlog - DropNs) x (1 + packets_out) <= CeilNs - DropNs.
// A socket with nothing in flight passes up to CeilNs (see idleTCP); one
// with many, hardly beyond DropNs. Without it the flows that had the most
// in flight won the race for the room freed by each drain (their ACKs come
// most often): four cubic flows of one cgroup got 0.5%, 6%, 25% and 69% of
// the rate (Jain's index 0.47). With it a flow that fell behind passes
// where the others drop: Jain's index 0.76-0.97 for four cubic flows
// (median 0.89 in 11 runs; fairShare, in front of it, lifted that to a
// median of 0.98). BBR flows, paced rather than window-limited, keep
// similar packets_out whatever their rate, so this does not even them out
// (0.27-0.86). On a path with next to no round trip (a veth) a socket's
// ACKs come back before its next packet leaves, so packets_out reads 0 on
// nearly every packet: BBR flows then pass bursts of ~40 GSO packets up to
// CeilNs, after which every socket is dropped with nothing in flight and
// waits for its probe timer (the shared backlog saws between 316 and
// 116 ms with a 200 ms period); which flow wins each burst decides BBR's
// shares. Weights tried and dropped: (1+packets_out)^2 did no better;
// (1+packets_out) x gso_segs stalled idle sockets with large packets until
// their probe timer (the aggregate fell to 20-63%); 1 + packets_out x
// gso_segs did no better. Dropping every packet of a flow beyond its fair
// share past DropNs instead (no room at all) stalled whole cgroups the
// same way (aggregate 21-32%).
func tcpRoom(prefix, protected string) asm.Instructions {
	no := prefix + "_no_room"
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpTCP, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, no),
		asm.LoadMem(asm.R2, asm.RFP, fpBacklg, asm.DWord),
		asm.LoadMem(asm.R3, asm.R7, cfgDrop, asm.DWord),
		asm.Sub.Reg(asm.R2, asm.R3),
		asm.Mul.Reg(asm.R2, asm.R1),
		asm.LoadMem(asm.R4, asm.R7, cfgCeil, asm.DWord),
		asm.Sub.Reg(asm.R4, asm.R3),
		asm.JLE.Reg(asm.R2, asm.R4, protected),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(no),
	}
}

// otherShare passes (to mark) a packet of no TCP socket that found the
// queue beyond Config.OtherDropNs while the non-TCP share's own tail,
// charged at Config.OtherCostPerByte, stays within OtherDropNs of now;
// otherwise it drops. The share's tail restarts at now-burst after
// idleness with a plain store (two CPUs racing there lose at most one
// packet's charge of the share; the shared tail is exact). Without
// OtherCostPerByte it drops.
func otherShare() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R7, cfgOCost, asm.DWord),
		asm.JEq.Imm(asm.R2, 0, "drop_undo"),
		asm.LoadMem(asm.R1, asm.RFP, fpWire, asm.DWord),
		asm.Mul.Reg(asm.R2, asm.R1),
		asm.RSh.Imm(asm.R2, CostShift),
		asm.StoreMem(asm.RFP, fpShare, asm.R2, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, fpState, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, fpNow, asm.DWord),
		asm.LoadMem(asm.R4, asm.R7, cfgBurst, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R4),
		asm.LoadMem(asm.R0, asm.R3, stOther, asm.DWord),
		asm.JSGE.Reg(asm.R0, asm.R1, "share_busy"),
		asm.StoreMem(asm.R3, stOther, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, fpShare, asm.DWord).WithSymbol("share_busy"),
		fetchAdd(asm.R3, asm.R1, stOther),
		asm.LoadMem(asm.R2, asm.RFP, fpShare, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.RFP, fpNow, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.R7, cfgOther, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "mark"),
		asm.LoadMem(asm.R1, asm.RFP, fpShare, asm.DWord),
		asm.Neg.Imm(asm.R1, 0),
		asm.LoadMem(asm.R3, asm.RFP, fpState, asm.DWord),
		asm.AddAtomic.Mem(asm.R3, asm.R1, asm.DWord, stOther),
		asm.Ja.Label("drop_undo"),
	}
}

func flowOff(dir Direction) int16 { return int16(dir) * flowSize }

// fairShare (Config.FairNs, data packets of TCP sockets while the shared
// tail runs ahead of now, i.e. while the limiter is saturated) charges the
// packet to its socket's own virtual tail at N times its cost, N being the
// active flows of this direction (countFlow). Idle credit is Config.BurstNs, as for the shared
// tail; the flow tail runs at most CeilNs ahead of now. R9 gets the
// socket's flow record, fpFairC the charge (undone on a drop) and fpAhead
// where on the flow's tail the packet starts, relative to now: at most
// FairNs means the flow keeps within its share. Without a record R9 stays
// 0 and the packet is treated as before.
func fairShare(dir Direction, m *maps) asm.Instructions {
	off := flowOff(dir)
	insns := asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, cfgFair, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "fair_done"),
		asm.LoadMem(asm.R1, asm.RFP, fpTCP, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "fair_done"),
		asm.LoadMem(asm.R1, asm.R6, skbSk, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "fair_done"),
		asm.FnSkFullsock.Call(),
		asm.JEq.Imm(asm.R0, 0, "fair_done"),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.LoadMapPtr(asm.R1, m.flows.FD()),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, skStorageGetCreate),
		asm.FnSkStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "fair_done"),
		asm.Mov.Reg(asm.R9, asm.R0),
		// R1 = this epoch; count the flow if it is new here.
		asm.LoadMem(asm.R1, asm.RFP, fpNow, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, cfgFShift, asm.DWord),
		asm.And.Imm(asm.R2, 63),
		asm.RSh.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.RFP, fpEpoch, asm.R1, asm.DWord),
	}
	insns = append(insns, countFlow(off)...)
	return append(insns,
		asm.LoadMem(asm.R2, asm.RFP, fpCost, asm.DWord),
		asm.Mul.Reg(asm.R2, asm.R1),
		asm.StoreMem(asm.RFP, fpFairC, asm.R2, asm.DWord),
		// The flow's tail: at least now-burst, then fpAhead, then charged
		// and kept within CeilNs of now.
		asm.LoadMem(asm.R1, asm.R9, off+flTail, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, fpNow, asm.DWord),
		asm.Mov.Reg(asm.R5, asm.R3),
		asm.LoadMem(asm.R4, asm.R7, cfgBurst, asm.DWord),
		asm.Sub.Reg(asm.R5, asm.R4),
		asm.JSGE.Reg(asm.R1, asm.R5, "fair_tail"),
		asm.Mov.Reg(asm.R1, asm.R5),
		asm.Mov.Reg(asm.R4, asm.R1).WithSymbol("fair_tail"),
		asm.Sub.Reg(asm.R4, asm.R3),
		asm.StoreMem(asm.RFP, fpAhead, asm.R4, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R4, asm.R7, cfgCeil, asm.DWord),
		asm.Add.Reg(asm.R3, asm.R4),
		asm.JSLE.Reg(asm.R1, asm.R3, "fair_store"),
		asm.Mov.Reg(asm.R1, asm.R3),
		asm.StoreMem(asm.R9, off+flTail, asm.R1, asm.DWord).WithSymbol("fair_store"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("fair_done"),
	)
}

// countFlow counts the flow whose record R9 points to (at off) in the
// epoch R1, once per epoch, and leaves in R1 the active flows of the
// direction whose state fpState points to: the larger of the current and
// the previous epoch's counts, at least 1. The epoch turns over with a
// compare-and-exchange, so one CPU moves the count to the previous epoch;
// a flow counted by another CPU during the turn may land in the previous
// epoch instead, an error of one flow for one epoch.
func countFlow(off int16) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R9, off+flEpoch, asm.DWord),
		asm.JEq.Reg(asm.R2, asm.R1, "fair_counted"),
		asm.StoreMem(asm.R9, off+flEpoch, asm.R1, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, fpState, asm.DWord),
		asm.LoadMem(asm.R0, asm.R3, stEpoch, asm.DWord),
		asm.JEq.Reg(asm.R0, asm.R1, "fair_count"),
		asm.Mov.Reg(asm.R4, asm.R0),
		cmpXchg(asm.R3, asm.R1, stEpoch),
		asm.JNE.Reg(asm.R0, asm.R4, "fair_count"),
		// This CPU turned the epoch: the counts so far become the
		// previous epoch's, or nothing if epochs went by unseen.
		asm.Mov.Imm(asm.R2, 0),
		xchg(asm.R3, asm.R2, stFlows),
		asm.Mov.Imm(asm.R5, 0),
		xchg(asm.R3, asm.R5, stGreedy),
		asm.Add.Imm(asm.R4, 1),
		asm.JEq.Reg(asm.R4, asm.R1, "fair_prev"),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Imm(asm.R5, 0),
		asm.StoreMem(asm.R3, stFlowsP, asm.R2, asm.DWord).WithSymbol("fair_prev"),
		asm.StoreMem(asm.R3, stGreedP, asm.R5, asm.DWord),
		asm.Mov.Imm(asm.R1, 1).WithSymbol("fair_count"),
		asm.AddAtomic.Mem(asm.R3, asm.R1, asm.DWord, stFlows),
		// R1 = N = max(current, previous, 1).
		asm.LoadMem(asm.R3, asm.RFP, fpState, asm.DWord).WithSymbol("fair_counted"),
		asm.LoadMem(asm.R1, asm.R3, stFlows, asm.DWord),
		asm.LoadMem(asm.R2, asm.R3, stFlowsP, asm.DWord),
		asm.JGE.Reg(asm.R1, asm.R2, "fair_n"),
		asm.Mov.Reg(asm.R1, asm.R2),
		asm.JNE.Imm(asm.R1, 0, "fair_n1").WithSymbol("fair_n"),
		asm.Mov.Imm(asm.R1, 1),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("fair_n1"),
	}
}

// countGreedy counts the flow whose record R9 points to (at off) as beyond
// its share, once per epoch (fpEpoch): the flows the pacing program divides
// Config.PaceRate among. A flow that uses less than its share never gets
// here, so it does not shrink the others' caps. countFlow has turned the
// epoch for this packet already.
func countGreedy(off int16) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpEpoch, asm.DWord).WithSymbol("vq_greedy"),
		asm.LoadMem(asm.R2, asm.R9, off+flGreedy, asm.DWord),
		asm.JEq.Reg(asm.R2, asm.R1, "vq_shared"),
		asm.StoreMem(asm.R9, off+flGreedy, asm.R1, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, fpState, asm.DWord),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R3, asm.R1, asm.DWord, stGreedy),
	}
}

// virtualQueue: pass below the mark threshold; a TCP packet within its
// flow's fair share (fairShare) passes unmarked up to the ceiling; the
// others, between mark and drop thresholds, get ECN CE (if the packet is
// ECT) and, on egress, congestion notification; beyond the drop threshold
// they drop (with notification on egress when a signal is due) unless
// their socket has room (see tcpRoom). Packets of no TCP socket drop
// beyond Config.OtherDropNs instead, when it is set, so a flood of them
// leaves room for TCP.
func virtualQueue(dir Direction, m *maps) asm.Instructions {
	insns := asm.Instructions{
		// Below the rate nothing more is needed (MarkNs >= 0).
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord).WithSymbol("vq"),
		asm.JSLE.Imm(asm.R1, 0, "pass"),
	}
	insns = append(insns, tcpState("vq")...)
	insns = append(insns, fairShare(dir, m)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, cfgMark, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "pass"),
		asm.LoadMem(asm.R1, asm.RFP, fpTCP, asm.DWord),
		asm.JNE.Imm(asm.R1, 0, "vq_tcp"),
		asm.LoadMem(asm.R2, asm.R7, cfgOther, asm.DWord),
		asm.JEq.Imm(asm.R2, 0, "vq_tcp"),
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "mark"),
	)
	insns = append(insns, otherShare()...)
	insns = append(insns,
		// A packet within its flow's share passes unmarked up to the
		// ceiling; the others meet the shared queue's signals and drops.
		asm.JEq.Imm(asm.R9, 0, "vq_shared").WithSymbol("vq_tcp"),
		asm.LoadMem(asm.R1, asm.RFP, fpAhead, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, cfgFair, asm.DWord),
		asm.JSGT.Reg(asm.R1, asm.R2, "vq_greedy"),
	)
	if dir == Ingress {
		// A flow within its share by FairNs but more than MarkNs ahead
		// on its tail still gets congestion signals (ECN): on ingress
		// userspace sets FairNs far beyond MarkNs, and an ECN-capable
		// flow must see marks before it sees drops.
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, fpAhead, asm.DWord),
			asm.LoadMem(asm.R2, asm.R7, cfgMark, asm.DWord),
			asm.JSGT.Reg(asm.R1, asm.R2, "vq_within_mark"),
		)
	}
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, cfgCeil, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "pass"),
		asm.Ja.Label("drop_undo"),
	)
	if dir == Ingress {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord).WithSymbol("vq_within_mark"),
			asm.LoadMem(asm.R2, asm.R7, cfgCeil, asm.DWord),
			asm.JSLE.Reg(asm.R1, asm.R2, "mark"),
			asm.Ja.Label("drop_undo"),
		)
	}
	insns = append(insns, countGreedy(flowOff(dir))...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord).WithSymbol("vq_shared"),
		asm.LoadMem(asm.R2, asm.R7, cfgDrop, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "mark"),
	)
	if dir == Egress {
		insns = append(insns, tcpRoom("vq", "mark")...)
	}
	passRet := int64(retPass)
	if dir == Egress {
		passRet = retPassCN
	}
	insns = append(insns, asm.Ja.Label("drop_undo"))
	sig := signalDue("pass")
	sig[0] = sig[0].WithSymbol("mark")
	insns = append(insns, sig...)
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnSkbEcnSetCe.Call(),
	)
	// Marked counts packets that carried a congestion signal: on egress
	// every one (notification reaches TCP whether or not CE could be set),
	// on ingress only those that were ECN-capable.
	if dir == Ingress {
		insns = append(insns, asm.JEq.Imm(asm.R0, 0, "marked"))
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, ctMarked),
	)
	pass := countPass()
	pass[0] = pass[0].WithSymbol("marked")
	insns = append(insns, pass...)
	return append(insns, asm.Mov.Imm(asm.R0, int32(passRet)), asm.Return())
}

func countPass() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpWire, asm.DWord),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, ctPassBytes),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, ctPassPkts),
		asm.LoadMem(asm.R1, asm.RFP, fpSegs, asm.DWord),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, ctPassSegs),
	}
}

// exits: pass (counted), drop (the charge undone, counted), and pass_raw
// when a map entry is missing. An egress drop of a TCP packet notifies
// congestion only when a signal is due (see signalDue): without
// notification TCP keeps the segment and retries on the next ACK, its
// window untouched, so a limiter that drops the excess of every burst does
// not also shrink the window each round trip. Other egress drops always
// notify: a UDP sender then sees ENOBUFS (and, without IP_RECVERR, no
// error at all) rather than EPERM.
func exits(dir Direction) asm.Instructions {
	pass := countPass()
	pass[0] = pass[0].WithSymbol("pass")
	insns := append(pass, asm.Mov.Imm(asm.R0, retPass), asm.Return())
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, fpCost, asm.DWord).WithSymbol("drop_undo"),
		asm.Neg.Imm(asm.R1, 0),
		asm.LoadMem(asm.R2, asm.RFP, fpState, asm.DWord),
		asm.AddAtomic.Mem(asm.R2, asm.R1, asm.DWord, stTail),
		asm.JEq.Imm(asm.R9, 0, "undone"),
		asm.LoadMem(asm.R1, asm.RFP, fpFairC, asm.DWord),
		asm.Neg.Imm(asm.R1, 0),
		asm.AddAtomic.Mem(asm.R9, asm.R1, asm.DWord, flowOff(dir)+flTail),
		asm.Mov.Imm(asm.R1, 1).WithSymbol("undone"),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, ctDropPkts),
		asm.LoadMem(asm.R1, asm.RFP, fpWire, asm.DWord),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, ctDropBytes),
	)
	if dir == Ingress {
		insns = append(insns, asm.Mov.Imm(asm.R0, retDrop), asm.Return())
	} else {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, fpTCP, asm.DWord),
			asm.JEq.Imm(asm.R1, 0, "drop_cn"))
		insns = append(insns, signalDue("drop_quiet")...)
		insns = append(insns,
			asm.Mov.Imm(asm.R0, retDropCN).WithSymbol("drop_cn"),
			asm.Return(),
			asm.Mov.Imm(asm.R0, retDrop).WithSymbol("drop_quiet"),
			asm.Return())
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, retPass).WithSymbol("pass_raw"),
		asm.Return(),
	)
}
