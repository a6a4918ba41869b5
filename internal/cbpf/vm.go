package cbpf

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// SeccompData mirrors struct seccomp_data.
type SeccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// Bytes returns the record as the kernel lays it out (host order, x86 is little-endian).
func (d *SeccompData) Bytes() [SeccompDataSize]byte {
	var b [SeccompDataSize]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(d.Nr))
	binary.LittleEndian.PutUint32(b[4:], d.Arch)
	binary.LittleEndian.PutUint64(b[8:], d.InstructionPointer)
	for i, a := range d.Args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// Run validates prog and executes it on d, returning the value of the RET
// that ended it and the number of instructions executed (RET included).
func Run(prog []unix.SockFilter, d *SeccompData) (ret uint32, executed int, err error) {
	if err := Validate(prog); err != nil {
		return 0, 0, err
	}
	ret, executed = Exec(prog, d)
	return ret, executed, nil
}

// Exec runs an already validated program (see Validate). Running an
// unvalidated program may panic.
func Exec(prog []unix.SockFilter, d *SeccompData) (ret uint32, executed int) {
	data := d.Bytes()
	var a, x uint32
	var mem [MemWords]uint32
	for pc := 0; ; pc++ {
		ins := prog[pc]
		executed++
		switch class(ins.Code) {
		case ClassLD:
			switch ins.Code & 0xe0 {
			case unix.BPF_ABS:
				a = binary.LittleEndian.Uint32(data[ins.K:])
			case unix.BPF_LEN:
				a = SeccompDataSize
			case unix.BPF_IMM:
				a = ins.K
			case unix.BPF_MEM:
				a = mem[ins.K]
			}
		case ClassLDX:
			switch ins.Code & 0xe0 {
			case unix.BPF_LEN:
				x = SeccompDataSize
			case unix.BPF_IMM:
				x = ins.K
			case unix.BPF_MEM:
				x = mem[ins.K]
			}
		case ClassST:
			mem[ins.K] = a
		case ClassSTX:
			mem[ins.K] = x
		case ClassALU:
			if ins.Code&unix.BPF_X != 0 && x == 0 && (ins.Code&0xf0 == unix.BPF_DIV || ins.Code&0xf0 == unix.BPF_MOD) {
				return 0, executed // the kernel ends the program with 0 on division by X == 0
			}
			a = alu(ins, a, x)
		case ClassJMP:
			pc += jump(ins, a, x)
		case ClassRET:
			if ins.Code&0x18 == unix.BPF_A {
				return a, executed
			}
			return ins.K, executed
		case ClassMISC:
			if ins.Code&0xf8 == unix.BPF_TAX {
				x = a
			} else {
				a = x
			}
		}
	}
}

func alu(ins unix.SockFilter, a, x uint32) uint32 {
	v := ins.K
	if ins.Code&unix.BPF_X != 0 {
		v = x
	}
	switch ins.Code & 0xf0 {
	case unix.BPF_ADD:
		return a + v
	case unix.BPF_SUB:
		return a - v
	case unix.BPF_MUL:
		return a * v
	case unix.BPF_DIV:
		return a / v
	case unix.BPF_MOD:
		return a % v
	case unix.BPF_OR:
		return a | v
	case unix.BPF_AND:
		return a & v
	case unix.BPF_XOR:
		return a ^ v
	case unix.BPF_LSH:
		return a << (v & 31)
	case unix.BPF_RSH:
		return a >> (v & 31)
	case unix.BPF_NEG:
		return -a
	}
	return a
}

func jump(ins unix.SockFilter, a, x uint32) int {
	v := ins.K
	if ins.Code&unix.BPF_X != 0 {
		v = x
	}
	var t bool
	switch ins.Code & 0xf0 {
	case unix.BPF_JA:
		return int(ins.K)
	case unix.BPF_JEQ:
		t = a == v
	case unix.BPF_JGT:
		t = a > v
	case unix.BPF_JGE:
		t = a >= v
	case unix.BPF_JSET:
		t = a&v != 0
	}
	if t {
		return int(ins.Jt)
	}
	return int(ins.Jf)
}
