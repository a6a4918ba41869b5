package bwprog

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Offsets in struct __sk_buff and struct bpf_tcp_sock (include/uapi/linux/bpf.h).
const (
	skbLen      = 0
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
	fpBuf    = -64 // 16 bytes of packet header
	fpL3     = -72
	fpBacklg = -80
)

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

// spec returns the program for one direction. config and state are the two
// array maps, keyed by Direction.
func spec(dir Direction, config, state *ebpf.Map) *ebpf.ProgramSpec {
	attach := ebpf.AttachCGroupInetEgress
	if dir == Ingress {
		attach = ebpf.AttachCGroupInetIngress
	}
	var insns asm.Instructions
	insns = append(insns, lookups(dir, config, state)...)
	insns = append(insns, wireLen()...)
	insns = append(insns, charge()...)
	if dir == Egress {
		insns = append(insns, edt()...)
	}
	insns = append(insns, virtualQueue(dir)...)
	insns = append(insns, exits(dir)...)
	return &ebpf.ProgramSpec{
		Name:         programName + "_" + dir.String()[:2],
		Type:         ebpf.CGroupSKB,
		AttachType:   attach,
		License:      "GPL",
		Instructions: insns,
	}
}

// lookups: R6 = ctx, R7 = config, R8 = state. Missing entries pass.
func lookups(dir Direction, config, state *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, fpKey, int64(dir), asm.Word),
		asm.LoadMapPtr(asm.R1, config.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass_raw"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMapPtr(asm.R1, state.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass_raw"),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
}

// wireLen stores in fpWire the bytes the packet occupies on an Ethernet
// wire: len + segs*L2Overhead + (segs-1)*(L3+L4 header), since a GSO
// packet's headers are replicated in every segment. The header length is
// read from the packet (IPv4 IHL or IPv6's fixed 40, plus TCP data offset
// or UDP's 8); defaultHdr is used when that fails. gso_segs is in
// __sk_buff since 5.1 (commit d9ff286a0f59).
func wireLen() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R6, skbGsoSegs, asm.Word),
		asm.JNE.Imm(asm.R1, 0, "have_segs"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, fpSegs, asm.R1, asm.DWord).WithSymbol("have_segs"),
		asm.LoadMem(asm.R9, asm.R6, skbLen, asm.Word),
		asm.Mul.Imm(asm.R1, L2Overhead),
		asm.Add.Reg(asm.R9, asm.R1),
		asm.LoadMem(asm.R1, asm.RFP, fpSegs, asm.DWord),
		asm.JLE.Imm(asm.R1, 1, "wire_done"),
		// Read the first 16 bytes of the L3 header.
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, fpBuf),
		asm.Mov.Imm(asm.R4, 16),
		asm.FnSkbLoadBytes.Call(),
		asm.Mov.Imm(asm.R3, defaultHdr),
		asm.JNE.Imm(asm.R0, 0, "hdr_done"),
		asm.LoadMem(asm.R1, asm.RFP, fpBuf, asm.Byte),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.RSh.Imm(asm.R2, 4),
		asm.JEq.Imm(asm.R2, 6, "ipv6"),
		asm.JNE.Imm(asm.R2, 4, "hdr_done"),
		asm.And.Imm(asm.R1, 0xf),
		asm.LSh.Imm(asm.R1, 2),
		asm.LoadMem(asm.R2, asm.RFP, fpBuf+9, asm.Byte),
		asm.Ja.Label("l4"),
		asm.Mov.Imm(asm.R1, 40).WithSymbol("ipv6"),
		asm.LoadMem(asm.R2, asm.RFP, fpBuf+6, asm.Byte),
		asm.StoreMem(asm.RFP, fpL3, asm.R1, asm.DWord).WithSymbol("l4"),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.JNE.Imm(asm.R2, protoUDP, "not_udp"),
		asm.Add.Imm(asm.R3, 8),
		asm.Ja.Label("hdr_done"),
		asm.JNE.Imm(asm.R2, protoTCP, "hdr_done").WithSymbol("not_udp"),
		// TCP: data offset is the high nibble of byte 12.
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, 12),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, fpBuf),
		asm.Mov.Imm(asm.R4, 1),
		asm.FnSkbLoadBytes.Call(),
		asm.Mov.Imm(asm.R3, defaultHdr),
		asm.JNE.Imm(asm.R0, 0, "hdr_done"),
		asm.LoadMem(asm.R3, asm.RFP, fpBuf, asm.Byte),
		asm.RSh.Imm(asm.R3, 4),
		asm.LSh.Imm(asm.R3, 2),
		asm.LoadMem(asm.R1, asm.RFP, fpL3, asm.DWord),
		asm.Add.Reg(asm.R3, asm.R1),
		asm.LoadMem(asm.R1, asm.RFP, fpSegs, asm.DWord).WithSymbol("hdr_done"),
		asm.Sub.Imm(asm.R1, 1),
		asm.Mul.Reg(asm.R1, asm.R3),
		asm.Add.Reg(asm.R9, asm.R1),
		asm.StoreMem(asm.RFP, fpWire, asm.R9, asm.DWord).WithSymbol("wire_done"),
	}
}

// charge adds the packet's cost to the virtual tail. The tail is first
// raised to now-burst (a compare-and-exchange: losing the race to another
// CPU is fine, that CPU raised or advanced it), then advanced with an
// atomic fetch-add, so concurrent senders never lose each other's bytes
// (BPF_ATOMIC fetch and cmpxchg need 5.12, commit 5ca419f2864a). fpBacklg
// gets the signed backlog in ns after this packet. Unlimited directions
// only count.
func charge() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, cfgCost, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "pass"),
		asm.Mul.Reg(asm.R1, asm.R9),
		asm.RSh.Imm(asm.R1, CostShift),
		asm.StoreMem(asm.RFP, fpCost, asm.R1, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.RFP, fpNow, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.LoadMem(asm.R2, asm.R7, cfgBurst, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R0, asm.R8, stTail, asm.DWord),
		asm.JSGE.Reg(asm.R0, asm.R1, "floor_ok"),
		cmpXchg(asm.R8, asm.R1, stTail),
		asm.LoadMem(asm.R1, asm.RFP, fpCost, asm.DWord).WithSymbol("floor_ok"),
		fetchAdd(asm.R8, asm.R1, stTail),
		asm.StoreMem(asm.RFP, fpOld, asm.R1, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, fpCost, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.RFP, fpNow, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.RFP, fpBacklg, asm.R1, asm.DWord),
		// Small packets (ACKs, SYNs, pings) are charged but never held.
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word),
		asm.LoadMem(asm.R2, asm.R7, cfgSmall, asm.DWord),
		asm.JLE.Reg(asm.R1, asm.R2, "pass"),
	}
}

// inflight jumps to protected when the packet's socket is a TCP socket
// with nothing in flight and the backlog is below Config.CeilNs. Dropping
// such a packet stalls the socket until its probe timer (>= 200 ms), since
// no ACK will come to trigger a new attempt (bpf_tcp_sock, 5.1).
func inflight(prefix, protected string) asm.Instructions {
	no := prefix + "_not_tcp"
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, cfgCeil, asm.DWord),
		asm.JSGT.Reg(asm.R1, asm.R2, no),
		asm.LoadMem(asm.R1, asm.R6, skbSk, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, no),
		asm.FnSkFullsock.Call(),
		asm.JEq.Imm(asm.R0, 0, no),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.FnTcpSock.Call(),
		asm.JEq.Imm(asm.R0, 0, no),
		asm.LoadMem(asm.R1, asm.R0, tcpPktsOut, asm.Word),
		asm.JEq.Imm(asm.R1, 0, protected),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(no),
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
	insns = append(insns, inflight("edt", "edt_set")...)
	return append(insns,
		asm.Ja.Label("drop_undo"),
		asm.LoadMem(asm.R1, asm.RFP, fpOld, asm.DWord).WithSymbol("edt_set"),
		asm.LoadMem(asm.R2, asm.R6, skbTstamp, asm.DWord),
		asm.JGE.Reg(asm.R2, asm.R1, "edt_counted"),
		asm.StoreMem(asm.R6, skbTstamp, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R1, 1).WithSymbol("edt_counted"),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stDelayed),
		asm.Ja.Label("pass"),
	)
}

// virtualQueue: pass below the mark threshold; between mark and drop
// thresholds set ECN CE (if the packet is ECT) and, on egress, notify
// congestion; beyond the drop threshold drop (with notification on egress)
// unless the socket has nothing in flight (see inflight).
func virtualQueue(dir Direction) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpBacklg, asm.DWord).WithSymbol("vq"),
		asm.LoadMem(asm.R2, asm.R7, cfgMark, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "pass"),
		asm.LoadMem(asm.R2, asm.R7, cfgDrop, asm.DWord),
		asm.JSLE.Reg(asm.R1, asm.R2, "mark"),
	}
	if dir == Egress {
		insns = append(insns, inflight("vq", "mark")...)
	}
	passRet := int64(retPass)
	if dir == Egress {
		passRet = retPassCN
	}
	insns = append(insns,
		asm.Ja.Label("drop_undo"),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("mark"),
		asm.FnSkbEcnSetCe.Call(),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stMarked),
	)
	insns = append(insns, countPass()...)
	return append(insns, asm.Mov.Imm(asm.R0, int32(passRet)), asm.Return())
}

func countPass() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, fpWire, asm.DWord),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stPassBytes),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stPassPkts),
		asm.LoadMem(asm.R1, asm.RFP, fpSegs, asm.DWord),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stPassSegs),
	}
}

func exits(dir Direction) asm.Instructions {
	dropRet := int32(retDrop)
	if dir == Egress {
		dropRet = retDropCN
	}
	pass := countPass()
	pass[0] = pass[0].WithSymbol("pass")
	insns := append(pass, asm.Mov.Imm(asm.R0, retPass), asm.Return())
	return append(insns,
		asm.LoadMem(asm.R1, asm.RFP, fpCost, asm.DWord).WithSymbol("drop_undo"),
		asm.Neg.Imm(asm.R1, 0),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stTail),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stDropPkts),
		asm.LoadMem(asm.R1, asm.RFP, fpWire, asm.DWord),
		asm.AddAtomic.Mem(asm.R8, asm.R1, asm.DWord, stDropBytes),
		asm.Mov.Imm(asm.R0, dropRet),
		asm.Return(),
		asm.Mov.Imm(asm.R0, retPass).WithSymbol("pass_raw"),
		asm.Return(),
	)
}
