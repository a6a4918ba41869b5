package seccomp

import (
	"encoding/binary"
	"math"

	"github.com/confinelab/confine/internal/cbpf"
)

// The compiler builds a filter as a graph of decisions before it lays out
// any instruction: a node is a RET, a conditional jump on one word of
// seccomp_data, or (for x32) a mask applied to the syscall number. Nodes
// are hash-consed: a node with the same test and the same successors as an
// existing one is that node, so identical code (a shared argument check,
// a common tail, a RET) exists once however many paths lead to it, and
// layout (layout.go) decides where copies or jumps are needed.

// nodeID names a node of a graph.
type nodeID int32

// word is what a test compares: the 32-bit word of seccomp_data at off,
// ANDed with mask (fullMask: the word itself).
type word struct {
	off, mask uint32
}

const fullMask = math.MaxUint32

// Words the top of every filter tests.
var (
	archWord = word{cbpf.OffArch, fullMask}
	nrWord   = word{cbpf.OffNr, fullMask}
)

// argWord is the low (hi false) or high word of argument i.
func argWord(i int, hi bool, mask uint32) word {
	if hi {
		return word{cbpf.ArgHi(i), mask}
	}
	return word{cbpf.ArgLo(i), mask}
}

// node is one decision. op is cbpf.RetK (k is the return value), a
// conditional jump (JeqK, JgtK, JgeK: A compared with k, then t or f), or
// cbpf.AndK (A &= k, then t). A jump or AND needs A to hold w; a node
// loads it itself unless the node before left it there.
type node struct {
	op   uint16
	k    uint32
	w    word
	t, f nodeID
}

// graph is a hash-consing store of nodes.
type graph struct {
	nodes  []node
	unique map[node]nodeID
	// probT is, for each conditional jump, the expected share of the
	// calls reaching it that go to t (from the weights of the switch that
	// made it): layout keeps the busier branch near.
	probT []float64
}

func newGraph() *graph {
	return &graph{unique: map[node]nodeID{}}
}

func (g *graph) add(n node, probT float64) nodeID {
	if id, ok := g.unique[n]; ok {
		return id
	}
	id := nodeID(len(g.nodes))
	g.nodes = append(g.nodes, n)
	g.probT = append(g.probT, probT)
	g.unique[n] = id
	return id
}

// ret returns the node that ends the filter with a.
func (g *graph) ret(a Action) nodeID { return g.add(node{op: cbpf.RetK, k: a.Ret()}, 0) }

// jump returns a conditional jump on w, taken with probability probT;
// equal successors need no test.
func (g *graph) jump(op uint16, w word, k uint32, t, f nodeID, probT float64) nodeID {
	if t == f {
		return t
	}
	return g.add(node{op: op, k: k, w: w, t: t, f: f}, probT)
}

// and returns a node that masks A (which must hold w) with k and goes on
// to t, which then finds w in A: the compiler uses it to hand an x32
// syscall number to the native dispatch as its native number.
func (g *graph) and(w word, k uint32, t nodeID) nodeID {
	return g.add(node{op: cbpf.AndK, k: k, w: w, t: t}, 1)
}

// graft returns root, a search on the syscall number whose constants are
// all below split, with the numbers from split up sent to hi instead;
// probHi is their share of the calls that reach the leaf they come from.
func (g *graph) graft(root nodeID, split uint32, hi nodeID, probHi float64) nodeID {
	n := g.nodes[root]
	switch {
	case n.op == cbpf.JgeK && n.w == nrWord:
		return g.jump(n.op, n.w, n.k, g.graft(n.t, split, hi, probHi), n.f, g.probT[root])
	case n.op == cbpf.JeqK && n.w == nrWord:
		return g.jump(n.op, n.w, n.k, n.t, g.graft(n.f, split, hi, probHi), g.probT[root])
	}
	return g.jump(cbpf.JgeK, nrWord, split, hi, root, probHi)
}

// run follows the graph from root for the seccomp_data d and returns the
// RET value and the instructions executed, as laid out without long-jump
// trampolines.
func (g *graph) run(root nodeID, d *cbpf.SeccompData) (ret uint32, executed int) {
	data := d.Bytes()
	a, held := uint32(0), noWord
	for id := root; ; {
		n := &g.nodes[id]
		e := g.entryFrom(held, id)
		executed += g.codeLen(id, e)
		switch {
		case n.op == cbpf.RetK:
			return n.k, executed
		case e != atTest:
			a = binary.LittleEndian.Uint32(data[n.w.off:])
			if n.op != cbpf.AndK {
				a &= n.w.mask
			}
		}
		held = n.w
		switch n.op {
		case cbpf.AndK:
			a &= n.k
			id = n.t
		case cbpf.JeqK:
			id = pick(a == n.k, n.t, n.f)
		case cbpf.JgeK:
			id = pick(a >= n.k, n.t, n.f)
		default: // JgtK
			id = pick(a > n.k, n.t, n.f)
		}
	}
}

func pick(c bool, t, f nodeID) nodeID {
	if c {
		return t
	}
	return f
}

// succs returns the successors of n (none for a RET).
func (g *graph) succs(id nodeID) []nodeID {
	n := &g.nodes[id]
	switch n.op {
	case cbpf.RetK:
		return nil
	case cbpf.AndK:
		return []nodeID{n.t}
	}
	return []nodeID{n.t, n.f}
}

// entry is where a node is entered, depending on what A holds: at its
// load, at its AND (A holds the word unmasked), or at its test.
type entry uint8

const (
	atLoad entry = iota
	atMask
	atTest
)

// entryFrom returns where the node s is entered from a node that leaves
// w in A (w.off == noWord: nothing known).
func (g *graph) entryFrom(w word, s nodeID) entry {
	n := &g.nodes[s]
	switch {
	case n.op == cbpf.RetK:
		return atTest
	case n.op == cbpf.AndK:
		if w == n.w {
			return atTest // the AND itself
		}
		return atLoad
	case w == n.w:
		return atTest
	case w.off == n.w.off && w.mask == fullMask:
		return atMask
	}
	return atLoad
}

// noWord is the state of A at the start of the filter.
var noWord = word{off: math.MaxUint32}

// out is what A holds after node id.
func (g *graph) out(id nodeID) word { return g.nodes[id].w }

// codeLen is the instructions a node takes when entered at e.
func (g *graph) codeLen(id nodeID, e entry) int {
	n := &g.nodes[id]
	switch {
	case n.op == cbpf.RetK || e == atTest:
		return 1
	case n.op == cbpf.AndK || e == atMask || n.w.mask == fullMask:
		return 2
	}
	return 3
}

// size counts the instructions of the code reachable from root, laid out
// without copies or long-jump trampolines: an estimate for choosing
// between two ways of compiling the same decisions.
func (g *graph) size(root nodeID) int {
	need := g.entries(root)
	n := 0
	for id, es := range need {
		for e := atLoad; e <= atTest; e++ {
			if es&(1<<e) != 0 {
				n += g.codeLen(id, e)
				break // the longest entry covers the others
			}
		}
	}
	return n
}

// entries returns, for every node reachable from root, the set of entries
// (bit 1<<entry) its predecessors use; root is entered at its load.
func (g *graph) entries(root nodeID) map[nodeID]uint8 {
	need := map[nodeID]uint8{root: 1 << atLoad}
	stack := []nodeID{root}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, s := range g.succs(id) {
			_, seen := need[s]
			need[s] |= 1 << g.entryFrom(g.out(id), s)
			if !seen {
				stack = append(stack, s)
			}
		}
	}
	return need
}
