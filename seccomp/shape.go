package seccomp

import (
	"math"
	"slices"
	"sync"

	"github.com/confinelab/confine/internal/cbpf"
)

// A switch sends the value of one word to one of several nodes by ranges
// (segments). It becomes a search tree of JGE tests whose leaves may test
// single values with JEQ first ("peeled" values): a value between two
// ranges that go to the same place costs one JEQ instead of two range
// splits. The tree's shape is chosen by dynamic programming for
//
//	cost = lambda*instructions + sum over segments of weight*tests executed
//
// so lambda says how many weighted executed tests one instruction of
// program is worth.

// seg is a range of a word's values [start, next seg's start) and where
// it goes; weight says how often it is expected.
type seg struct {
	start  uint64
	to     nodeID
	weight int
}

// shapeParams say how a switch is shaped: lambda is what one instruction
// is worth in weighted tests executed; maxDP bounds the segments one
// dynamic program handles (its time is cubic), larger switches being
// split at their weighted median first.
type shapeParams struct {
	lambda, maxDP int
}

// maxPeel bounds the values one leaf tests with JEQ.
const maxPeel = 12

// switchOn returns a node that sends A (holding w, whose values are below
// end) to the node of the segment it falls in.
func (g *graph) switchOn(w word, segs []seg, end uint64, p shapeParams) nodeID {
	segs = mergeSegs(segs)
	if len(segs) > p.maxDP {
		k := medianSplit(segs)
		lo := g.switchOn(w, segs[:k], segs[k].start, p)
		hi := g.switchOn(w, segs[k:], end, p)
		return g.jump(cbpf.JgeK, w, uint32(segs[k].start), hi, lo, share(totalWeight(segs[k:]), totalWeight(segs)))
	}
	s := newShaper(segs, end, p.lambda)
	defer s.release()
	return s.emit(g, w, 0, len(segs)-1)
}

// mergeSegs joins neighbours going to the same node.
func mergeSegs(segs []seg) []seg {
	out := make([]seg, 0, len(segs))
	for _, s := range segs {
		if n := len(out); n > 0 && out[n-1].to == s.to {
			out[n-1].weight += s.weight
			continue
		}
		out = append(out, s)
	}
	return out
}

// medianSplit returns k (0 < k < len(segs)) splitting the weight in halves.
func medianSplit(segs []seg) int {
	total := 0
	for _, s := range segs {
		total += s.weight
	}
	k, acc := 1, segs[0].weight
	for k < len(segs)-1 && 2*(acc+segs[k].weight) <= total {
		acc += segs[k].weight
		k++
	}
	return k
}

// shaper holds the dynamic program over segments i..j: its cost, kept
// twice so the inner loop reads both operands sequentially (fromStart at
// i*n+span, toEnd at j*n+span), how the optimum is built (root at i*n+j:
// > i, a JGE at segs[root].start; 0, a leaf) and the best split (split).
type shaper struct {
	segs             []seg
	point            []bool // segment i is a single value
	pre              []int  // weight prefix sums
	leafEnd          []int  // i..j can be a leaf only for j <= leafEnd[i]
	n                int
	fromStart, toEnd []int64
	root, split      []int32
	lambda           int64
	// buffers for leaf plans: the plan being tried, the best one so far
	scratch, best []int
	bgs           []nodeID
}

// shaperPool keeps shapers' tables: every cell of a span above 0 is
// written before it is read.
var shaperPool = sync.Pool{New: func() any { return new(shaper) }}

func newShaper(segs []seg, end uint64, lambda int) *shaper {
	n := len(segs)
	s := shaperPool.Get().(*shaper)
	s.segs, s.n, s.lambda = segs, n, int64(lambda)
	s.point, s.pre, s.leafEnd = grow(s.point, n), grow(s.pre, n+1), grow(s.leafEnd, n)
	s.fromStart, s.toEnd = grow(s.fromStart, n*n), grow(s.toEnd, n*n)
	s.root, s.split = grow(s.root, n*n), grow(s.split, n*n)
	s.pre[0] = 0
	for i := range n {
		s.fromStart[i*n], s.toEnd[i*n] = 0, 0 // span 0: one segment, no test
	}
	for i, x := range segs {
		next := end
		if i+1 < n {
			next = segs[i+1].start
		}
		s.point[i] = next-x.start == 1
		s.pre[i+1] = s.pre[i] + x.weight
	}
	s.findLeafEnds()
	// Every span before the spans containing it: by end, then by start
	// downwards, so the cells of one end are read and written in turn.
	for j := 1; j < n; j++ {
		for i := j - 1; i >= 0; i-- {
			s.solve(i, j)
		}
	}
	return s
}

// findLeafEnds sets leafEnd: a leaf falls back to the target of its
// ranges longer than one value, so it ends before a second such range
// going elsewhere.
func (s *shaper) findLeafEnds() {
	for i := range s.n {
		j, bg, have := i, nodeID(0), false
		for ; j < s.n && j-i <= 2*maxPeel; j++ {
			if s.point[j] {
				continue
			}
			if have && s.segs[j].to != bg {
				break
			}
			bg, have = s.segs[j].to, true
		}
		s.leafEnd[i] = j - 1
	}
}

// release returns s to the pool.
func (s *shaper) release() {
	s.segs = nil
	shaperPool.Put(s)
}

// grow returns b with length n, reallocated only when too small.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// cost is the optimum for i..j.
func (s *shaper) cost(i, j int) int64 { return s.fromStart[i*s.n+j-i] }

// exactSpan is the longest span whose splits are all tried; longer ones
// try only those between the best splits of their two sub-spans (Knuth's
// bound, exact for search trees without leaves and a close heuristic
// with them), which makes the program quadratic.
const exactSpan = 8

// solve finds the optimum for i..j from the smaller spans.
func (s *shaper) solve(i, j int) {
	best := int64(math.MaxInt64)
	if l, ok := s.leaf(i, j); ok {
		best = s.leafCost(l)
	}
	span := j - i
	w := int64(s.pre[j+1]-s.pre[i]) + s.lambda
	left := s.fromStart[i*s.n : i*s.n+span] // i..i+m for m < span
	right := s.toEnd[j*s.n : j*s.n+span]    // j-m..j for m < span
	lo, hi := 0, span-1                     // m: split before k = i+1+m
	if span > exactSpan {
		a, b := int(s.split[i*s.n+j-1])-i-1, int(s.split[(i+1)*s.n+j])-i-1
		lo, hi = min(a, b), max(a, b) // leaves can break the order
	}
	bestSplit, split := int64(math.MaxInt64), lo
	for m := lo; m <= hi; m++ {
		if c := left[m] + right[span-1-m] + w; c < bestSplit {
			bestSplit, split = c, m
		}
	}
	root := int32(0)
	if bestSplit < best {
		best, root = bestSplit, int32(i+1+split)
	}
	s.fromStart[i*s.n+span], s.toEnd[j*s.n+span] = best, best
	s.root[i*s.n+j], s.split[i*s.n+j] = root, int32(i+1+split)
}

// leafPlan is a leaf over several segments: every segment not going to
// background is a single value, tested by JEQ in order.
type leafPlan struct {
	background nodeID
	peeled     []int // segment indices, most weighted first
	exec       int64
}

// leaf returns the cheapest plan for i..j as one leaf, if there is one.
func (s *shaper) leaf(i, j int) (leafPlan, bool) {
	var best leafPlan
	found := false
	if j-i > 2*maxPeel || j > s.leafEnd[i] {
		return best, false
	}
	for _, bg := range s.backgrounds(i, j) {
		if p, ok := s.plan(i, j, bg); ok && (!found || s.leafCost(p) < s.leafCost(best)) {
			best, found = p, true
			s.best, s.scratch = s.scratch, s.best // keep p.peeled
		}
	}
	return best, found
}

func (s *shaper) leafCost(p leafPlan) int64 { return s.lambda*int64(len(p.peeled)) + p.exec }

// plan returns the leaf over i..j falling back to bg, if every other
// segment is a single value and there are at most maxPeel of them. The
// most weighted values are tested first.
func (s *shaper) plan(i, j int, bg nodeID) (leafPlan, bool) {
	p := leafPlan{background: bg, peeled: s.scratch[:0]}
	bgWeight := 0
	for k := i; k <= j; k++ {
		switch {
		case s.segs[k].to == bg:
			bgWeight += s.segs[k].weight
		case !s.point[k] || len(p.peeled) == maxPeel:
			return p, false
		default:
			p.peeled = append(p.peeled, k)
		}
	}
	for x := 1; x < len(p.peeled); x++ { // insertion sort: a dozen at most
		for y := x; y > 0 && s.segs[p.peeled[y]].weight > s.segs[p.peeled[y-1]].weight; y-- {
			p.peeled[y], p.peeled[y-1] = p.peeled[y-1], p.peeled[y]
		}
	}
	s.scratch = p.peeled
	for r, k := range p.peeled {
		p.exec += int64(r+1) * int64(s.segs[k].weight)
	}
	p.exec += int64(len(p.peeled)) * int64(bgWeight)
	return p, true
}

// backgrounds returns the nodes a leaf over i..j may fall back to: the
// target of its ranges longer than one value (plan rejects a second one),
// or, when all are single values, those of their targets that leave at
// most maxPeel values to test (beyond exactSpan, the one that leaves the
// fewest).
func (s *shaper) backgrounds(i, j int) []nodeID {
	out := s.bgs[:0]
	for k := i; k <= j; k++ {
		if !s.point[k] {
			s.bgs = append(out, s.segs[k].to)
			return s.bgs
		}
	}
	most := 0 // beyond exactSpan, only the most frequent (first) target
	for k := i; k <= j; k++ {
		to, n := s.segs[k].to, 0
		if slices.Contains(out, to) {
			continue
		}
		for x := k; x <= j; x++ {
			if s.segs[x].to == to {
				n++
			}
		}
		switch {
		case j-i+1-n > maxPeel:
		case j-i <= exactSpan:
			out = append(out, to)
		case n > most:
			out, most = append(out[:0], to), n
		}
	}
	s.bgs = out
	return out
}

// emit builds the optimum for i..j in g.
func (s *shaper) emit(g *graph, w word, i, j int) nodeID {
	if i == j {
		return s.segs[i].to
	}
	if k := int(s.root[i*s.n+j]); k > 0 {
		hi := s.emit(g, w, k, j)
		lo := s.emit(g, w, i, k-1)
		return g.jump(cbpf.JgeK, w, uint32(s.segs[k].start), hi, lo, share(s.pre[j+1]-s.pre[k], s.pre[j+1]-s.pre[i]))
	}
	l, _ := s.leaf(i, j)
	id := l.background
	rest := s.pre[j+1] - s.pre[i]
	for _, k := range l.peeled {
		rest -= s.segs[k].weight
	}
	for r := len(l.peeled) - 1; r >= 0; r-- {
		x := s.segs[l.peeled[r]]
		id = g.jump(cbpf.JeqK, w, uint32(x.start), x.to, id, share(x.weight, x.weight+rest))
		rest += x.weight
	}
	return id
}

// share is part/total, 1/2 for an empty total.
func share(part, total int) float64 {
	if total == 0 {
		return 0.5
	}
	return float64(part) / float64(total)
}
