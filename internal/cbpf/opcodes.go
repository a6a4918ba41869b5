package cbpf

import "golang.org/x/sys/unix"

// Instruction classes and fields, as in linux/filter.h.
const (
	ClassLD   = unix.BPF_LD
	ClassLDX  = unix.BPF_LDX
	ClassST   = unix.BPF_ST
	ClassSTX  = unix.BPF_STX
	ClassALU  = unix.BPF_ALU
	ClassJMP  = unix.BPF_JMP
	ClassRET  = unix.BPF_RET
	ClassMISC = unix.BPF_MISC
)

// Common opcodes used by the seccomp compiler.
const (
	LdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	LdImm  = unix.BPF_LD | unix.BPF_IMM
	LdMem  = unix.BPF_LD | unix.BPF_MEM
	LdxImm = unix.BPF_LDX | unix.BPF_IMM
	LdxMem = unix.BPF_LDX | unix.BPF_MEM
	St     = unix.BPF_ST
	Stx    = unix.BPF_STX
	AndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	RetK   = unix.BPF_RET | unix.BPF_K
	RetA   = unix.BPF_RET | unix.BPF_A
	Ja     = unix.BPF_JMP | unix.BPF_JA
	JeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	JgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	JgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	JsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	Tax    = unix.BPF_MISC | unix.BPF_TAX
	Txa    = unix.BPF_MISC | unix.BPF_TXA
)

// MaxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const MaxInsns = 4096

// MemWords is the number of scratch memory cells M[0..15].
const MemWords = 16

// SeccompDataSize is sizeof(struct seccomp_data).
const SeccompDataSize = 64

// Offsets of struct seccomp_data fields.
const (
	OffNr     = 0
	OffArch   = 4
	OffIP     = 8
	OffArgs   = 16
	OffArgLo  = 16 // little-endian: low word of args[i] at OffArgs+8*i
	OffArgHi  = 20
	argStride = 8
)

// ArgLo returns the offset of the low 32 bits of argument i (x86 is little-endian).
func ArgLo(i int) uint32 { return uint32(OffArgLo + argStride*i) }

// ArgHi returns the offset of the high 32 bits of argument i.
func ArgHi(i int) uint32 { return uint32(OffArgHi + argStride*i) }

func class(code uint16) uint16 { return code & 0x07 }
