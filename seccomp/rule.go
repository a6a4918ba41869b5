package seccomp

import "fmt"

// Op is a resolved comparison operator.
type Op uint8

// Operators, with libseccomp's unsigned 64-bit semantics.
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
// args[Index]&Value == ValueTwo.
type Cond struct {
	Index    int
	Op       Op
	Value    uint64
	ValueTwo uint64
}

// Match evaluates the condition on an argument value.
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
		return arg&c.Value == c.ValueTwo
	}
	return false
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

// Matches reports whether every condition holds for args.
func (r *Rule) Matches(args *[6]uint64) bool {
	for _, c := range r.Conds {
		if !c.Match(args[c.Index]) {
			return false
		}
	}
	return true
}
