package seccomp

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// leaf is what a range of syscall numbers leads to: a fixed action, or the
// rules of one syscall (rules != nil).
type leaf struct {
	act   Action
	rules []Rule
	// args32: a 32-bit ABI (i386, x32): only the low words of arguments
	// and condition values are compared, as libseccomp does.
	args32 bool
	// sub: a range dispatched by its own search tree.
	sub []segment
	// peeled: single numbers inside the range that decide otherwise.
	peeled []point
}

type segment struct {
	start  uint64 // first key; the segment ends where the next one starts
	leaf   leaf
	weight int
}

// Weights of the dispatch tree: native syscalls count most, x32 ones a
// little, ranges without syscalls barely (so they sink to the bottom).
const (
	weightNative = 64
	weightX32    = 4
	weightEmpty  = 1
)

// Compile turns resolved rules into a seccomp filter: the architecture is
// checked first (anything not accepted is killed), then an optimal binary
// search over syscall numbers of each ABI leads to a RET or to the
// argument checks of one syscall.
func Compile(r *Resolved) (*Program, error) {
	r, err := checkResolved(r)
	if err != nil {
		return nil, err
	}
	var b cbpf.Builder
	b.Stmt(cbpf.LdAbsW, cbpf.OffArch)
	other := b.NewLabel()
	b.JumpIf(cbpf.JeqK, unix.AUDIT_ARCH_X86_64, cbpf.Next, other)
	b.Stmt(cbpf.LdAbsW, cbpf.OffNr)
	segs := abiSegments(r, syscalls.X86_64, 0, syscalls.X32Bit, weightNative)
	segs = mergeSegments(segs)
	if slices.Contains(r.Arches, syscalls.X32) {
		// The x32 range is one leaf of the native tree with its own tree
		// below: two small optimisations instead of one large one.
		x32 := mergeSegments(abiSegments(r, syscalls.X32, syscalls.X32Bit, math.MaxUint32+1, weightX32))
		w := 0
		for _, s := range x32 {
			w += s.weight
		}
		segs = append(segs, segment{start: syscalls.X32Bit, leaf: leaf{sub: x32}, weight: w})
	} else {
		segs = append(segs, segment{start: syscalls.X32Bit, leaf: leaf{act: ActKillProcess}, weight: weightEmpty})
	}
	emitDispatch(&b, segs, peelNr)
	b.Bind(other)
	if slices.Contains(r.Arches, syscalls.I386) {
		kill := b.NewLabel()
		b.JumpIf(cbpf.JeqK, unix.AUDIT_ARCH_I386, cbpf.Next, kill)
		b.Stmt(cbpf.LdAbsW, cbpf.OffNr)
		emitDispatch(&b, mergeSegments(abiSegments(r, syscalls.I386, 0, math.MaxUint32+1, weightNative)), peelNr)
		b.Bind(kill)
	}
	b.Ret(ActKillProcess.Ret())
	insns, err := b.Assemble()
	var long *cbpf.TooLongError
	if errors.As(err, &long) {
		return nil, &TooLargeError{Instructions: long.Len, Limit: cbpf.MaxInsns}
	}
	if err != nil {
		return nil, fmt.Errorf("seccomp: assembling filter: %w", err)
	}
	return NewProgram(insns), nil
}

// CompileProfile resolves p for t and compiles it.
func CompileProfile(p *Profile, t Target) (*Program, []Warning, error) {
	r, warns, err := Resolve(p, t)
	if err != nil {
		return nil, nil, err
	}
	prog, err := Compile(r)
	return prog, warns, err
}

// checkResolved validates a Resolved that may have been built by hand and
// returns one whose rules are sorted by number.
func checkResolved(r *Resolved) (*Resolved, error) {
	if r == nil {
		return nil, invalid("rules", "<nil>", "no rules")
	}
	out := *r
	out.Rules = make(map[syscalls.Arch][]Rule, len(r.Rules))
	for abi, rules := range r.Rules {
		for i, rule := range rules {
			for _, c := range rule.Conds {
				if c.Index < 0 || c.Index > 5 || c.Op < NE || c.Op > MaskedEQ {
					return nil, invalid(fmt.Sprintf("Rules[%v][%d]", abi, i), fmt.Sprintf("%+v", c), "condition index must be 0..5 and op known")
				}
			}
		}
		if !slices.IsSortedFunc(rules, func(a, b Rule) int { return cmpU64(uint64(a.Nr), uint64(b.Nr)) }) {
			rules = sortByNr(rules)
		}
		out.Rules[abi] = rules
	}
	return &out, nil
}

// TooLargeError is returned by Compile when the filter would exceed the
// kernel's limit of 4096 classic BPF instructions (BPF_MAXINSNS), which
// the kernel would refuse with a bare EINVAL.
type TooLargeError struct {
	Instructions int // the length the profile compiles to
	Limit        int // the kernel's limit
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("seccomp: compiled filter: %d instructions: must be at most %d (BPF_MAXINSNS)", e.Instructions, e.Limit)
}
