package bwprog

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Offsets in struct bpf_sock_ops and the values the pacing program uses
// (include/uapi/linux/bpf.h, asm-generic/socket.h).
const (
	sopsOp      = 0
	sopsCbFlags = 84
	sopsSk      = 184 // __bpf_md_ptr(struct bpf_sock *, sk), 5.3

	opActiveEstablished  = 4  // BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB
	opPassiveEstablished = 5  // BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB
	opRTT                = 12 // BPF_SOCK_OPS_RTT_CB, 5.3
	rttCbFlag            = 1 << 3

	solSocket       = 1
	soMaxPacingRate = 47

	fpPace = -16 // the value handed to bpf_setsockopt

	// maxPace is the largest cap: bpf_setsockopt takes the option as a
	// 32-bit int, and ~0U means unlimited. A larger share (above
	// 34 Gbit/s) is no cap at all, rather than a cap below the rate.
	maxPace = 1<<32 - 2
)

// paceSpec returns the sock_ops program of the pacing half of fair shares
// (Config.PaceRate). It asks for a callback on every round-trip sample of
// each TCP socket of the cgroup (set when the connection is established),
// and on each one caps the socket's pacing rate at PaceRate divided by the
// egress direction's flows beyond their share (countGreedy's count, read
// from the state map as the skb program leaves it; see greedyFlows), with
// SO_MAX_PACING_RATE. Setting it also turns on TCP's internal pacing for
// the socket when no qdisc paces it (sk_pacing_status SK_PACING_NEEDED),
// so a socket spaces its packets at its share instead of sending bursts
// the virtual queue can only drop.
// The cap last set is kept in the socket's flow record (flPaced), so the
// option is written only when the share changes; a record that never held
// a cap is never written, so an application's own SO_MAX_PACING_RATE
// stands while no cap applies, and is replaced by "unlimited" when a cap
// is lifted.
func paceSpec(m *maps) *ebpf.ProgramSpec {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R1, asm.R6, sopsOp, asm.Word),
		asm.JEq.Imm(asm.R1, opActiveEstablished, "established"),
		asm.JEq.Imm(asm.R1, opPassiveEstablished, "established"),
		asm.JEq.Imm(asm.R1, opRTT, "pace"),
		asm.Ja.Label("out"),
		asm.LoadMem(asm.R2, asm.R6, sopsCbFlags, asm.Word).WithSymbol("established"),
		asm.Or.Imm(asm.R2, rttCbFlag),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnSockOpsCbFlagsSet.Call(),
		// R8 = the cap for this socket, 0 = none.
		asm.StoreImm(asm.RFP, fpKey, int64(Egress), asm.Word).WithSymbol("pace"),
	}
	insns = append(insns, lookupOr(m.config, "out")...)
	insns = append(insns,
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R8, asm.R7, cfgPace, asm.DWord),
		asm.JEq.Imm(asm.R8, 0, "capped"),
	)
	insns = append(insns, lookupOr(m.state, "out")...)
	insns = append(insns,
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.FnKtimeGetNs.Call(),
		asm.LoadMem(asm.R2, asm.R7, cfgFShift, asm.DWord),
		asm.And.Imm(asm.R2, 63),
		asm.RSh.Reg(asm.R0, asm.R2),
	)
	insns = append(insns, greedyFlows()...)
	insns = append(insns,
		asm.Div.Reg(asm.R8, asm.R1),
		asm.JNE.Imm(asm.R8, 0, "not_zero"),
		asm.Mov.Imm(asm.R8, 1),
		asm.LoadImm(asm.R1, maxPace, asm.DWord).WithSymbol("not_zero"),
		asm.JLE.Reg(asm.R8, asm.R1, "capped"),
		asm.Mov.Imm(asm.R8, 0),
		// The socket's record: made only when there is a cap to keep.
		asm.LoadMem(asm.R2, asm.R6, sopsSk, asm.DWord).WithSymbol("capped"),
		asm.JEq.Imm(asm.R2, 0, "out"),
		asm.LoadMapPtr(asm.R1, m.flows.FD()),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.JEq.Imm(asm.R8, 0, "get"),
		asm.Mov.Imm(asm.R4, skStorageGetCreate),
		asm.FnSkStorageGet.Call().WithSymbol("get"),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, flPaced, asm.DWord),
		asm.JEq.Reg(asm.R1, asm.R8, "out"),
		asm.StoreMem(asm.R0, flPaced, asm.R8, asm.DWord),
		asm.JNE.Imm(asm.R8, 0, "set"),
		asm.Mov.Imm(asm.R8, -1), // ~0U: unlimited
		asm.StoreMem(asm.RFP, fpPace, asm.R8, asm.Word).WithSymbol("set"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, solSocket),
		asm.Mov.Imm(asm.R3, soMaxPacingRate),
		asm.Mov.Reg(asm.R4, asm.RFP),
		asm.Add.Imm(asm.R4, fpPace),
		asm.Mov.Imm(asm.R5, 4),
		asm.FnSetsockopt.Call(),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("out"),
		asm.Return(),
	)
	return &ebpf.ProgramSpec{
		Name:         programName + "_pa",
		Type:         ebpf.SockOps,
		AttachType:   ebpf.AttachCGroupSockOps,
		License:      "GPL",
		Instructions: insns,
	}
}

// greedyFlows leaves in R1 the flows beyond their share of the state
// value R9 points to in epoch R0, as countGreedy counts them: the larger of
// the current and the previous epoch's counts when the state is in epoch
// R0, the count of the epoch before when it has not turned yet, and at
// least 1. R0 is kept.
func greedyFlows() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R1, 1),
		asm.LoadMem(asm.R3, asm.R9, stEpoch, asm.DWord),
		asm.LoadMem(asm.R4, asm.R9, stGreedy, asm.DWord),
		asm.JEq.Reg(asm.R3, asm.R0, "n_now"),
		asm.Add.Imm(asm.R3, 1),
		asm.JNE.Reg(asm.R3, asm.R0, "n_done"),
		asm.Ja.Label("n_max"),
		asm.LoadMem(asm.R2, asm.R9, stGreedP, asm.DWord).WithSymbol("n_now"),
		asm.JGE.Reg(asm.R1, asm.R2, "n_max"),
		asm.Mov.Reg(asm.R1, asm.R2),
		asm.JGE.Reg(asm.R1, asm.R4, "n_done").WithSymbol("n_max"),
		asm.Mov.Reg(asm.R1, asm.R4),
		asm.Mov.Imm(asm.R2, 0).WithSymbol("n_done"),
	}
}
