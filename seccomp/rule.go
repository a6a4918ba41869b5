package seccomp

import "fmt"

// Op is a resolved comparison operator.
type Op uint8

// Operators, with libseccomp's semantics. On x86_64 a condition compares
// the whole 64-bit argument, unsigned: args[Index] Op Value. On the 32-bit
// ABIs (i386 and x32, which libseccomp treats as 32-bit architectures) only
// the low 32 bits of the argument are compared with the low 32 bits of
// Value (and ValueTwo): the upper halves of both are ignored.
//
// MaskedEQ holds when args[Index]&Value == ValueTwo&Value: Value is the
// mask and applies to ValueTwo too, so bits of ValueTwo outside the mask
// do not matter (libseccomp masks the datum as well).
const (
	NE Op = iota + 1
	LT
	LE
	EQ
	GE
	GT
	MaskedEQ
)

var opNames = map[string]Op{OpNE: NE, OpLT: LT, OpLE: LE, OpEQ: EQ, OpGE: GE, OpGT: GT, OpMaskedEQ: MaskedEQ}

func (o Op) String() string {
	for k, v := range opNames {
		if v == o {
			return k
		}
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Cond is one argument condition: args[Index] Op Value; for MaskedEQ,
// args[Index]&Value == ValueTwo&Value. See Op for the 32-bit ABIs.
type Cond struct {
	Index    int
	Op       Op
	Value    uint64
	ValueTwo uint64
}

// Match evaluates the condition on a 64-bit (x86_64) argument value.
func (c Cond) Match(arg uint64) bool {
	switch c.Op {
	case NE:
		return arg != c.Value
	case LT:
		return arg < c.Value
	case LE:
		return arg <= c.Value
	case EQ:
		return arg == c.Value
	case GE:
		return arg >= c.Value
	case GT:
		return arg > c.Value
	case MaskedEQ:
		return arg&c.Value == c.ValueTwo&c.Value
	}
	return false
}

// Match32 evaluates the condition on an argument of a 32-bit ABI (i386,
// x32): the low 32 bits of the argument against the low 32 bits of the
// values.
func (c Cond) Match32(arg uint64) bool { return c.low32().Match(uint64(uint32(arg))) }

// low32 is c with its values cut to their low 32 bits.
func (c Cond) low32() Cond {
	c.Value, c.ValueTwo = uint64(uint32(c.Value)), uint64(uint32(c.ValueTwo))
	return c
}

// Rule gives Action to syscall Nr when all Conds hold. Group is the index
// of the profile group it came from.
type Rule struct {
	Nr     uint32
	Name   string
	Action Action
	Conds  []Cond
	Group  int
}

// Matches reports whether every condition holds for the arguments of a
// 64-bit (x86_64) syscall.
func (r *Rule) Matches(args *[6]uint64) bool {
	for _, c := range r.Conds {
		if !c.Match(args[c.Index]) {
			return false
		}
	}
	return true
}

// Matches32 is Matches for a 32-bit ABI (i386, x32): see Cond.Match32.
func (r *Rule) Matches32(args *[6]uint64) bool {
	for _, c := range r.Conds {
		if !c.Match32(args[c.Index]) {
			return false
		}
	}
	return true
}

// lowRules returns rules with every condition cut to the low 32 bits, as
// a 32-bit ABI compares them (Cond.Match32).
func lowRules(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = r
		out[i].Conds = make([]Cond, len(r.Conds))
		for j, c := range r.Conds {
			out[i].Conds[j] = c.low32()
		}
	}
	return out
}
