package cbpf

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// allowed lists the opcodes seccomp accepts (kernel/seccomp.c
// seccomp_check_filter plus the generic classic BPF checker).
var allowed = map[uint16]bool{
	LdAbsW: true, unix.BPF_LD | unix.BPF_W | unix.BPF_LEN: true,
	unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN: true,
	LdImm:                                    true, LdMem: true, LdxImm: true, LdxMem: true, St: true, Stx: true,
	RetK: true, RetA: true, Tax: true, Txa: true, Ja: true,
}

func init() {
	for _, op := range []uint16{unix.BPF_ADD, unix.BPF_SUB, unix.BPF_MUL, unix.BPF_DIV,
		unix.BPF_OR, unix.BPF_AND, unix.BPF_LSH, unix.BPF_RSH, unix.BPF_MOD, unix.BPF_XOR} {
		allowed[unix.BPF_ALU|op|unix.BPF_K] = true
		allowed[unix.BPF_ALU|op|unix.BPF_X] = true
	}
	allowed[unix.BPF_ALU|unix.BPF_NEG] = true
	for _, op := range []uint16{unix.BPF_JEQ, unix.BPF_JGT, unix.BPF_JGE, unix.BPF_JSET} {
		allowed[unix.BPF_JMP|op|unix.BPF_K] = true
		allowed[unix.BPF_JMP|op|unix.BPF_X] = true
	}
}

// Validate rejects programs the kernel would refuse for seccomp: empty or
// longer than 4096 instructions, unknown or non-seccomp opcodes, loads
// outside seccomp_data or unaligned, jumps out of range, division by a
// constant zero, shifts by 32 or more, scratch memory read before written on
// some path, and a last instruction that is not RET.
func Validate(prog []unix.SockFilter) error {
	n := len(prog)
	if n == 0 || n > MaxInsns {
		return &Error{Index: 0, Reason: fmt.Sprintf("program length %d not in 1..%d", n, MaxInsns)}
	}
	for i, ins := range prog {
		if err := checkInsn(prog, i, ins); err != nil {
			return err
		}
	}
	if c := prog[n-1].Code; c != RetK && c != RetA {
		return &Error{Index: n - 1, Reason: "last instruction is not RET"}
	}
	return checkMemory(prog)
}

func checkInsn(prog []unix.SockFilter, i int, ins unix.SockFilter) *Error {
	bad := func(f string, a ...any) *Error { return &Error{Index: i, Reason: fmt.Sprintf(f, a...)} }
	if !allowed[ins.Code] {
		return bad("opcode %#x not allowed in seccomp", ins.Code)
	}
	rest := len(prog) - i - 1
	switch {
	case ins.Code == LdAbsW:
		if ins.K >= SeccompDataSize || ins.K&3 != 0 {
			return bad("load at offset %d outside seccomp_data or unaligned", ins.K)
		}
	case ins.Code == LdMem || ins.Code == LdxMem || ins.Code == St || ins.Code == Stx:
		if ins.K >= MemWords {
			return bad("scratch memory index %d >= %d", ins.K, MemWords)
		}
	case class(ins.Code) == ClassALU:
		op, src := ins.Code&0xf0, ins.Code&0x08
		if src == unix.BPF_K && (op == unix.BPF_DIV || op == unix.BPF_MOD) && ins.K == 0 {
			return bad("division by constant zero")
		}
		if src == unix.BPF_K && (op == unix.BPF_LSH || op == unix.BPF_RSH) && ins.K >= 32 {
			return bad("shift by %d", ins.K)
		}
	case ins.Code == Ja:
		if uint64(ins.K) >= uint64(rest) {
			return bad("jump offset %d out of range", ins.K)
		}
	case class(ins.Code) == ClassJMP:
		if int(ins.Jt) >= rest || int(ins.Jf) >= rest {
			return bad("jump offsets %d/%d out of range", ins.Jt, ins.Jf)
		}
	}
	return nil
}

// checkMemory does the kernel's check_load_and_stores: along every path a
// scratch cell must be stored before it is loaded.
func checkMemory(prog []unix.SockFilter) error {
	in := make([]uint16, len(prog)+1)
	for i := range in {
		in[i] = 0xffff
	}
	in[0] = 0
	for i, ins := range prog {
		m := in[i]
		switch ins.Code {
		case LdMem, LdxMem:
			if m&(1<<ins.K) == 0 {
				return &Error{Index: i, Reason: fmt.Sprintf("scratch memory M[%d] read before write", ins.K)}
			}
		case St, Stx:
			m |= 1 << ins.K
		}
		switch {
		case ins.Code == Ja:
			in[i+1+int(ins.K)] &= m
		case class(ins.Code) == ClassJMP:
			in[i+1+int(ins.Jt)] &= m
			in[i+1+int(ins.Jf)] &= m
		case class(ins.Code) == ClassRET:
		default:
			in[i+1] &= m
		}
	}
	return nil
}
