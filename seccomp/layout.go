package seccomp

import (
	"slices"

	"github.com/confinelab/confine/internal/cbpf"
	"golang.org/x/sys/unix"
)

// Layout turns the graph into instructions. Nodes are ordered so that
// every node comes after all nodes that jump to it (classic BPF jumps
// forward only), depth first (see order). The program is then written
// backwards, from its last instruction: when a node is written,
// everything it jumps to is already in place. A conditional jump reaches
// at most 255 instructions; when the nearest copy of a target is farther,
// a new copy of it is put right after the jump (a RET, or a test of a few
// instructions, as itself; anything else as a JA to it), and later (that
// is, earlier) jumps reuse that copy while it is in reach. A node that
// finds its word already in A is entered past its load.

// maxJump is the longest offset of a conditional jump.
const maxJump = 255

// instKey is a placed entry of a node.
type instKey struct {
	id nodeID
	e  entry
}

type layouter struct {
	g    *graph
	rev  []unix.SockFilter // the program, last instruction first
	inst map[instKey]int   // nearest placed copy: index into rev
}

// layout returns the program below root.
func (g *graph) layout(root nodeID) []unix.SockFilter {
	order := g.order(root)
	need := g.entries(root)
	l := &layouter{g: g, inst: map[instKey]int{}}
	for i := len(order) - 1; i >= 0; i-- {
		l.place(order[i], need[order[i]])
	}
	slices.Reverse(l.rev)
	return l.rev
}

// emit appends ins (before everything placed so far) and returns its index.
func (l *layouter) emit(ins unix.SockFilter) int {
	l.rev = append(l.rev, ins)
	return len(l.rev) - 1
}

// place writes node id with the entries in need (a bit set of entry).
func (l *layouter) place(id nodeID, need uint8) {
	n := l.g.nodes[id]
	if n.op == cbpf.RetK {
		l.inst[instKey{id, atTest}] = l.emit(unix.SockFilter{Code: cbpf.RetK, K: n.k})
		return
	}
	if n.op == cbpf.AndK {
		// The AND falls through to its successor: it must come next.
		t := instKey{n.t, l.g.entryFrom(n.w, n.t)}
		if q, ok := l.inst[t]; !ok || q != len(l.rev)-1 {
			l.near(t)
		}
		l.inst[instKey{id, atTest}] = l.emit(unix.SockFilter{Code: cbpf.AndK, K: n.k})
		l.loads(id, n.w, need, false)
		return
	}
	l.inst[instKey{id, atTest}] = l.test(id)
	l.loads(id, n.w, need, true)
}

// reach returns the offset from the next instruction to k's nearest copy.
func (l *layouter) reach(k instKey) (int, bool) {
	q, ok := l.inst[k]
	d := len(l.rev) - q - 1
	return d, ok && d <= maxJump
}

// test writes the conditional jump of node id, after copies of its
// targets where they are out of reach, and returns its index.
func (l *layouter) test(id nodeID) int {
	n := l.g.nodes[id]
	t := instKey{n.t, l.g.entryFrom(n.w, n.t)}
	f := instKey{n.f, l.g.entryFrom(n.w, n.f)}
	for {
		jt, okT := l.reach(t)
		jf, okF := l.reach(f)
		if okT && okF {
			return l.emit(unix.SockFilter{Code: n.op, K: n.k, Jt: uint8(jt), Jf: uint8(jf)})
		}
		if !okT {
			l.near(t)
		} else {
			l.near(f)
		}
	}
}

// maxCopy bounds the instructions copied instead of a JA.
const maxCopy = 3

// near puts a copy of k right here: a RET as itself, a test whose targets
// are in reach (or copied, within maxCopy instructions) as itself, else a
// JA to it.
func (l *layouter) near(k instKey) {
	n := l.g.nodes[k.id]
	switch {
	case n.op == cbpf.RetK:
		l.inst[k] = l.emit(unix.SockFilter{Code: cbpf.RetK, K: n.k})
	case l.copyCost(k, maxCopy) <= maxCopy:
		l.inst[k] = l.test(k.id)
	default:
		q := l.inst[k]
		l.inst[k] = l.emit(unix.SockFilter{Code: cbpf.Ja, K: uint32(len(l.rev) - q - 1)})
	}
}

// copyCost is the instructions a copy of k here would take, more than
// budget when it is too large.
func (l *layouter) copyCost(k instKey, budget int) int {
	if q, ok := l.inst[k]; ok && len(l.rev)-q-1+budget <= maxJump {
		return 0
	}
	n := l.g.nodes[k.id]
	switch {
	case n.op == cbpf.RetK:
		return 1
	case k.e != atTest || n.op == cbpf.AndK || budget < 1:
		return budget + 1
	}
	c := 1
	c += l.copyCost(instKey{n.t, l.g.entryFrom(n.w, n.t)}, budget-c)
	if c <= budget {
		c += l.copyCost(instKey{n.f, l.g.entryFrom(n.w, n.f)}, budget-c)
	}
	return c
}

// loads writes the AND and the load that put w in A, where needed, in
// front of a node's test (masks: whether the node applies w.mask itself).
func (l *layouter) loads(id nodeID, w word, need uint8, masks bool) {
	if masks && w.mask != fullMask && need&(1<<atMask|1<<atLoad) != 0 {
		l.inst[instKey{id, atMask}] = l.emit(unix.SockFilter{Code: cbpf.AndK, K: w.mask})
	}
	if need&(1<<atLoad) != 0 {
		l.inst[instKey{id, atLoad}] = l.emit(unix.SockFilter{Code: cbpf.LdAbsW, K: w.off})
	}
}

// order returns the nodes below root, each after all that jump to it,
// depth first. Of two branches, the one placed first is reached with a
// short jump; the other lies beyond it and needs a JA when that is longer
// than a jump reaches: the branch placed first is the one that makes the
// fewer calls pay for a JA, else the smaller.
func (g *graph) order(root nodeID) []nodeID {
	visits := g.visits(root)
	size := make([]int32, len(g.nodes)) // 0: not known yet
	return g.topo(root, func(a, b nodeID) bool {
		sa, sb := g.treeSize(a, size), g.treeSize(b, size)
		ja, jb := 0.0, 0.0 // calls paying a JA when a (b) comes first
		if sa > maxJump {
			ja = visits[b]
		}
		if sb > maxJump {
			jb = visits[a]
		}
		if ja != jb {
			return ja < jb
		}
		return sa <= sb
	})
}

// visits returns how often each node below root is expected to run per
// run of root, from the probabilities of the jumps (indexed by node).
func (g *graph) visits(root nodeID) []float64 {
	visits := make([]float64, len(g.nodes))
	visits[root] = 1
	for _, id := range g.topo(root, nil) {
		v, n := visits[id], &g.nodes[id]
		switch n.op {
		case cbpf.RetK:
		case cbpf.AndK:
			visits[n.t] += v
		default:
			visits[n.t] += v * g.probT[id]
			visits[n.f] += v * (1 - g.probT[id])
		}
	}
	return visits
}

// topo returns the nodes below root in an order where each comes after
// all that jump to it, depth first; first(a, b) says whether branch a
// should come right after the jump (nil: either).
func (g *graph) topo(root nodeID, first func(a, b nodeID) bool) []nodeID {
	indeg := make([]int32, len(g.nodes))
	seen := make([]bool, len(g.nodes))
	seen[root] = true
	stack := []nodeID{root}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, s := range g.succs(id) {
			indeg[s]++
			if !seen[s] {
				seen[s] = true
				stack = append(stack, s)
			}
		}
	}
	var order []nodeID
	stack = append(stack, root)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, id)
		ss := g.succs(id)
		if len(ss) == 2 && first != nil && first(ss[0], ss[1]) {
			ss[0], ss[1] = ss[1], ss[0] // pushed last, popped next
		}
		for _, s := range ss {
			if indeg[s]--; indeg[s] == 0 {
				stack = append(stack, s)
			}
		}
	}
	return order
}

// treeSize is the size of the code below id counted as a tree (shared
// nodes once per path, RETs not at all), capped: an estimate of how far a
// branch reaches. memo holds sizes plus one (0: not known).
func (g *graph) treeSize(id nodeID, memo []int32) int {
	if n := memo[id]; n > 0 {
		return int(n - 1)
	}
	n := 0
	if g.nodes[id].op != cbpf.RetK {
		n = 1
	}
	for _, s := range g.succs(id) {
		n += g.treeSize(s, memo)
	}
	n = min(n, 1<<20)
	memo[id] = int32(n + 1)
	return n
}
