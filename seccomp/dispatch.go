package seccomp

import (
	"fmt"
	"strings"

	"github.com/confinelab/confine/internal/cbpf"
)

// The dispatch code is a search tree over segments (ranges of syscall
// numbers, or of one argument's values) whose leaves are not emitted where
// they are reached: a tree node jumps straight to a shared copy. Leaves
// are shared per region, a subtree of at most regionMax instructions
// whose pool (argument blocks, then one RET per action) follows it, so
// every jump into the pool fits classic BPF's 8-bit offsets. A segment
// that is a single number between two segments deciding alike is peeled
// off: the neighbours merge and the number is tested with one JEQ in
// front of their leaf (at most maxPeel per leaf, which bounds the
// executed instructions it adds).
const regionMax = 240

// Peeling limits: syscall numbers, where every number counts in the
// executed-instruction figures, and argument values.
const (
	peelNr  = 1
	peelArg = 3
)

// point is a number peeled off a segment: key == nr decides by leaf.
type point struct {
	nr   uint64
	leaf leaf
}

type pool struct {
	rets   map[Action]cbpf.Label
	acts   []Action
	blocks map[string]cbpf.Label
	order  []pooled
}

type pooled struct {
	label cbpf.Label
	leaf  leaf
}

type dispatcher struct {
	b     *cbpf.Builder
	segs  []segment
	root  func(i, j int) int
	cost  []int // inline instructions of leaf i outside the pool (peeled JEQs)
	pcost []int // pool instructions of leaf i (its argument block)
	pool  *pool
}

// emitDispatch emits the search tree over segs; A must hold the key word.
func emitDispatch(b *cbpf.Builder, segs []segment, maxPeel int) {
	segs = peel(segs, maxPeel)
	w := make([]int, len(segs))
	d := &dispatcher{b: b, segs: segs, cost: make([]int, len(segs)), pcost: make([]int, len(segs))}
	for i, s := range segs {
		w[i] = s.weight
		d.cost[i] = len(s.leaf.peeled)
		if s.leaf.rules != nil || s.leaf.sub != nil {
			d.pcost[i] = blockLen(s.leaf)
		}
	}
	root, release := bstRoots(w)
	defer release()
	d.root = root
	d.subtree(0, len(segs)-1)
}

// blockLen is the length of a leaf's code when emitted on its own.
func blockLen(l leaf) int {
	var b cbpf.Builder
	l.peeled = nil
	emitLeaf(&b, l)
	return b.Len()
}

// size estimates the instructions of segments i..j with their pool.
func (d *dispatcher) size(i, j int) int {
	n := j - i
	acts := map[Action]bool{}
	for k := i; k <= j; k++ {
		n += d.cost[k] + d.pcost[k]
		acts[d.segs[k].leaf.act] = true
		for _, p := range d.segs[k].leaf.peeled {
			acts[p.leaf.act] = true
			if p.leaf.rules != nil {
				n += blockLen(p.leaf)
			}
		}
	}
	return n + len(acts)
}

// subtree emits segments i..j at the current position, opening a region
// with its pool when none is open and the subtree is small enough.
func (d *dispatcher) subtree(i, j int) {
	if d.pool != nil || d.size(i, j) > regionMax {
		d.node(i, j)
		return
	}
	d.pool = &pool{rets: map[Action]cbpf.Label{}, blocks: map[string]cbpf.Label{}}
	d.node(i, j)
	p := d.pool
	d.pool = nil
	for _, x := range p.order {
		d.b.Bind(x.label)
		emitLeaf(d.b, x.leaf)
	}
	for _, a := range p.acts {
		d.b.Bind(p.rets[a])
		d.b.Ret(a.Ret())
	}
}

// node emits the tree over i..j; a single leaf outside any region is
// emitted inline.
func (d *dispatcher) node(i, j int) {
	if i == j {
		if d.pool == nil {
			emitLeaf(d.b, d.segs[i].leaf)
			return
		}
		d.peeled(d.segs[i].leaf)
		return
	}
	k := d.root(i, j)
	lt, lcode := d.target(i, k-1)
	rt, rcode := d.target(k, j)
	d.b.JumpIf(cbpf.JgeK, uint32(d.segs[k].start), rt, lt)
	if lcode {
		d.b.Bind(lt)
		d.subtree(i, k-1)
	}
	if rcode {
		d.b.Bind(rt)
		d.subtree(k, j)
	}
}

// target returns where a jump to segments i..j goes, and whether code
// must be emitted there (a subtree, or a leaf with peeled numbers).
func (d *dispatcher) target(i, j int) (cbpf.Label, bool) {
	if i == j && d.pool != nil && len(d.segs[i].leaf.peeled) == 0 {
		return d.pooled(d.segs[i].leaf), false
	}
	return d.b.NewLabel(), true
}

// peeled emits the JEQ tests of a leaf's peeled numbers, then goes to it.
func (d *dispatcher) peeled(l leaf) {
	ps := l.peeled
	l.peeled = nil
	for n, p := range ps {
		other := cbpf.Next
		if n == len(ps)-1 {
			other = d.pooled(l)
		}
		d.b.JumpIf(cbpf.JeqK, uint32(p.nr), d.pooled(p.leaf), other)
	}
	if len(ps) == 0 {
		d.b.Jump(d.pooled(l))
	}
}

// pooled returns the label of a leaf's shared copy in the current pool.
func (d *dispatcher) pooled(l leaf) cbpf.Label {
	p := d.pool
	if l.rules == nil && l.sub == nil {
		lb, ok := p.rets[l.act]
		if !ok {
			lb = d.b.NewLabel()
			p.rets[l.act] = lb
			p.acts = append(p.acts, l.act)
		}
		return lb
	}
	key := blockKey(l)
	lb, ok := p.blocks[key]
	if !ok {
		lb = d.b.NewLabel()
		p.blocks[key] = lb
		p.order = append(p.order, pooled{lb, l})
	}
	return lb
}

// blockKey identifies a leaf's code: its decisions, not its syscall.
func blockKey(l leaf) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%v|%v|%p|", l.act, l.args32, l.sub)
	for _, r := range l.rules {
		fmt.Fprintf(&sb, "%v%v;", r.Action, r.Conds)
	}
	return sb.String()
}

// peel merges A,p,A runs (p a single number) into one segment A with p
// peeled off, at most maxPeel per segment.
func peel(segs []segment, maxPeel int) []segment {
	out := make([]segment, 0, len(segs))
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		n := len(out)
		if n > 0 && i+1 < len(segs) && segs[i+1].start == s.start+1 && s.leaf.sub == nil &&
			len(out[n-1].leaf.peeled) < maxPeel && sameLeaf(out[n-1].leaf, segs[i+1].leaf) {
			prev := &out[n-1]
			prev.leaf.peeled = append(prev.leaf.peeled, point{s.start, s.leaf})
			prev.weight += s.weight + segs[i+1].weight
			i++
			continue
		}
		s.leaf.peeled = nil
		out = append(out, s)
	}
	return out
}

// sameLeaf: two fixed leaves deciding alike (peeled numbers aside).
func sameLeaf(a, b leaf) bool {
	return a.rules == nil && b.rules == nil && a.sub == nil && b.sub == nil && len(b.peeled) == 0 && a.act == b.act
}

func emitLeaf(b *cbpf.Builder, l leaf) {
	if len(l.peeled) > 0 {
		// Only reached outside a region: test each number inline.
		for _, p := range l.peeled {
			next := b.NewLabel()
			b.JumpIf(cbpf.JeqK, uint32(p.nr), cbpf.Next, next)
			emitLeaf(b, p.leaf)
			b.Bind(next)
		}
		l.peeled = nil
	}
	if l.sub != nil {
		emitDispatch(b, l.sub, peelNr)
		return
	}
	if l.rules == nil {
		b.Ret(l.act.Ret())
		return
	}
	emitRules(b, l.rules, l.act, l.args32)
}
