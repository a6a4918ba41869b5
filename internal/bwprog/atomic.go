package bwprog

import "github.com/cilium/ebpf/asm"

// BPF_ATOMIC immediates (include/uapi/linux/bpf.h).
const (
	bpfFetch   = 0x01
	bpfAdd     = 0x00
	bpfXchg    = 0xe0 | bpfFetch
	bpfCmpXchg = 0xf0 | bpfFetch
)

// atomicDW builds a 64-bit BPF_ATOMIC instruction by hand: cilium/ebpf
// v0.22.0's asm.AtomicOp.Mem encodes the operation in the opcode but its
// marshaller writes the immediate from before the conversion, so every
// atomic op comes out as a plain add (imm 0).
func atomicDW(imm int64, dst, src asm.Register, off int16) asm.Instruction {
	return asm.Instruction{
		OpCode:   asm.OpCode(asm.StXClass).SetMode(asm.AtomicMode).SetSize(asm.DWord),
		Dst:      dst,
		Src:      src,
		Offset:   off,
		Constant: imm,
	}
}

// fetchAdd: src = atomic_fetch_add(*(u64 *)(dst+off), src).
func fetchAdd(dst, src asm.Register, off int16) asm.Instruction {
	return atomicDW(bpfAdd|bpfFetch, dst, src, off)
}

// cmpXchg: r0 = atomic_cmpxchg(*(u64 *)(dst+off), r0, src).
func cmpXchg(dst, src asm.Register, off int16) asm.Instruction {
	return atomicDW(bpfCmpXchg, dst, src, off)
}

// xchg: src = atomic_xchg(*(u64 *)(dst+off), src).
func xchg(dst, src asm.Register, off int16) asm.Instruction {
	return atomicDW(bpfXchg, dst, src, off)
}
