package seccomp

import (
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

// nrShape shapes the dispatch on syscall numbers (see switchOn): one
// instruction is worth one native syscall executing one more test.
var nrShape = shapeParams{lambda: weightNative, maxDP: 256}

// Compile turns resolved rules into a seccomp filter: the architecture is
// checked first (anything not accepted is killed), then a search over
// syscall numbers of each ABI leads to a RET or to the argument checks of
// one syscall. Identical code is emitted once (see graph.go).
func Compile(r *Resolved) (*Program, error) {
	return compile(r, x32Auto)
}

func compile(r *Resolved, mode x32Mode) (*Program, error) {
	r, err := checkResolved(r)
	if err != nil {
		return nil, err
	}
	c := newCompiler(r, mode)
	insns := c.g.layout(c.build())
	if len(insns) > cbpf.MaxInsns {
		return nil, &TooLargeError{Instructions: len(insns), Limit: cbpf.MaxInsns}
	}
	return NewProgram(insns), nil
}

// compiler holds the graph a filter is built in.
type compiler struct {
	g    *graph
	r    *Resolved
	args *argCompiler
	x32  x32Mode
}

func newCompiler(r *Resolved, mode x32Mode) *compiler {
	g := newGraph()
	return &compiler{g: g, r: r, args: newArgCompiler(g), x32: mode}
}

// build returns the root of the filter's graph.
func (c *compiler) build() nodeID {
	kill := c.g.ret(ActKillProcess)
	other := kill
	if slices.Contains(c.r.Arches, syscalls.I386) {
		i386 := c.g.switchOn(nrWord, c.segs(syscalls.I386, 0, math.MaxUint32+1, weightNative), math.MaxUint32+1, nrShape)
		other = c.g.jump(cbpf.JeqK, archWord, unix.AUDIT_ARCH_I386, i386, kill, 1)
	}
	// Most calls are native: the x86_64 branch is the busier one.
	return c.g.jump(cbpf.JeqK, archWord, unix.AUDIT_ARCH_X86_64, c.x86_64(kill), other, 0.9)
}

// segs returns the dispatch segments of abi's syscalls numbered in
// [base, end), each going to its leaf's node.
func (c *compiler) segs(abi syscalls.Arch, base, end uint64, w int) []seg {
	segs := abiSegments(c.r, abi, base, end, w)
	out := make([]seg, len(segs))
	for i, s := range segs {
		to := c.g.ret(s.leaf.act)
		if s.leaf.rules != nil {
			to = c.args.rules(s.leaf.rules, s.leaf.act, s.leaf.args32)
		}
		out[i] = seg{start: s.start, to: to, weight: s.weight}
	}
	return out
}

func totalWeight(segs []seg) int {
	n := 0
	for _, s := range segs {
		n += s.weight
	}
	return n
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
