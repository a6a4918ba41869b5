package seccomp

import (
	"encoding/binary"
	"math"
	"slices"
)

// The argument checks of one syscall are compiled to a decision diagram:
// a word is tested once for all rules that compare it, each range of its
// values leads to what is left of the rules there, and equal leftovers
// (within one syscall or across syscalls and ABIs) are one node. So a
// list of (level, optname) pairs tests the level once and each level's
// names once, and the high words of 64-bit values are compared once per
// group, not once per value. A diagram can grow exponentially with the
// number of rules; past a budget, and whenever it is larger, the rules are
// compiled one after the other instead (a chain).

// argShape shapes argument switches, whose segments all weigh 1: one
// instruction is worth four tests executed; the many small switches of a
// profile get the cheaper dynamic program.
var argShape = shapeParams{lambda: 4, maxDP: 64}

// ddRule is a rule while its syscall's diagram is built: the atoms left to
// test (sorted by word), all of which must hold for act.
type ddRule struct {
	act   Action
	atoms []atom
}

// argCompiler builds argument diagrams into one graph, remembering every
// state it has compiled (across syscalls and ABIs).
type argCompiler struct {
	g    *graph
	memo map[string]nodeID
	// work counts the rules of the states built for the current syscall
	// and the segments their switches shape; past budget the diagram is
	// abandoned.
	work, budget int
}

func newArgCompiler(g *graph) *argCompiler {
	return &argCompiler{g: g, memo: map[string]nodeID{}}
}

// rules returns the node deciding a syscall with rules (first match
// wins) and default action def.
func (a *argCompiler) rules(rules []Rule, def Action, args32 bool) nodeID {
	rs := make([]ddRule, 0, len(rules))
	atoms := 0
	for _, r := range rules {
		if d, ok := toDD(r, args32); ok {
			rs = append(rs, d)
			atoms += len(d.atoms)
		}
	}
	a.work, a.budget = 0, 4096+256*atoms
	dd, ok := a.decide(rs, def)
	if ok && a.g.size(dd) <= chainFloor(rs) {
		return dd // no chain can be smaller
	}
	chain := a.chain(rs, def)
	if ok && a.g.size(dd) <= a.g.size(chain) {
		return dd
	}
	return chain
}

// chainFloor is a lower bound of a chain's size: every stage of every
// atom is at least one test.
func chainFloor(rs []ddRule) int {
	n := 1
	for _, r := range rs {
		for _, at := range r.atoms {
			n++
			if at.at == isNext {
				n++
			}
		}
	}
	return n
}

// toDD returns r as atoms, false when one of its conditions never holds.
func toDD(r Rule, args32 bool) (ddRule, bool) {
	d := ddRule{act: r.Action}
	for _, c := range r.Conds {
		at, always, ok := atomsOf(c, args32)
		if !ok {
			return d, false
		}
		if !always {
			d.atoms = append(d.atoms, at)
		}
	}
	sortAtoms(d.atoms)
	return d, true
}

// sortAtoms orders atoms by argument, high word first, then mask: the
// order words are tested in.
func sortAtoms(atoms []atom) {
	slices.SortFunc(atoms, func(x, y atom) int {
		if c := wordOrder(x.w) - wordOrder(y.w); c != 0 {
			return int(c)
		}
		return cmpU64(uint64(x.w.mask), uint64(y.w.mask))
	})
}

// wordOrder ranks argument words: argument index, then high before low.
func wordOrder(w word) int64 {
	idx, lo := (int64(w.off)-16)/8, (w.off-16)%8 == 0
	if lo {
		return 2*idx + 1
	}
	return 2 * idx
}

// decide builds the diagram of a state: the rules left and the default.
// It returns false when the budget runs out.
func (a *argCompiler) decide(rs []ddRule, def Action) (nodeID, bool) {
	rs = simplify(rs, def)
	if len(rs) == 0 {
		return a.g.ret(def), true
	}
	if len(rs[0].atoms) == 0 {
		return a.g.ret(rs[0].act), true
	}
	key := stateKey(rs, def)
	if id, ok := a.memo[key]; ok {
		return id, true
	}
	w := rs[0].atoms[0].w
	bounds, parts := partition(rs, w)
	for _, p := range parts {
		a.work += len(p)
	}
	if a.work += len(rs) + len(bounds)*min(len(bounds), argShape.maxDP); a.work > a.budget {
		return 0, false
	}
	segs := make([]seg, len(bounds))
	for i, b := range bounds {
		id, ok := a.decide(parts[i], def)
		if !ok {
			return 0, false
		}
		segs[i] = seg{start: b, to: id, weight: 1}
	}
	id := a.g.switchOn(w, segs, 1<<32, argShape)
	a.memo[key] = id
	return id, true
}

// partition splits w's values into ranges where every atom on w says the
// same, and returns where each starts and the rules left there, in order.
// A rule is looked at only in the ranges it is left in, so the work is
// the size of the result.
func partition(rs []ddRule, w word) ([]uint64, [][]ddRule) {
	bounds := []uint64{0}
	for _, r := range rs {
		for _, at := range r.atoms {
			if at.w == w {
				bounds = append(bounds, uint64(at.c), uint64(at.c)+1)
			}
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	if bounds[len(bounds)-1] > math.MaxUint32 {
		bounds = bounds[:len(bounds)-1]
	}
	parts := make([][]ddRule, len(bounds))
	for _, r := range rs {
		on := slices.IndexFunc(r.atoms, func(at atom) bool { return at.w == w })
		switch {
		case on < 0:
			for i := range parts {
				parts[i] = append(parts[i], r)
			}
		case slices.IndexFunc(r.atoms[on+1:], func(at atom) bool { return at.w == w }) >= 0:
			for i, b := range bounds { // two atoms on w: rare (hand-built rules)
				if left, ok := restrict(r, w, uint32(b)); ok {
					parts[i] = append(parts[i], left)
				}
			}
		default:
			at := r.atoms[on]
			c, _ := slices.BinarySearch(bounds, uint64(at.c))
			zones := [3]struct{ from, to int }{{0, c}, {c, c + 1}, {c + 1, len(bounds)}}
			for z, x := range []uint64{0, uint64(at.c), uint64(at.c) + 1} {
				if zones[z].from >= zones[z].to {
					continue
				}
				if left, ok := restrict(r, w, uint32(x)); ok {
					for i := zones[z].from; i < zones[z].to; i++ {
						parts[i] = append(parts[i], left)
					}
				}
			}
		}
	}
	return bounds, parts
}

// restrict returns what is left of r when word w holds x, false when r
// no longer holds. Rules are never modified.
func restrict(r ddRule, w word, x uint32) (ddRule, bool) {
	left := ddRule{act: r.act, atoms: make([]atom, 0, len(r.atoms))}
	for _, at := range r.atoms {
		switch {
		case at.w != w:
			left.atoms = append(left.atoms, at)
		case at.of(x) == isFalse:
			return left, false
		case at.of(x) == isNext:
			left.atoms = append(left.atoms, atom{stage: at.lo})
		}
	}
	sortAtoms(left.atoms)
	return left, true
}

// simplify drops the rules that cannot decide: those after one that
// always matches, and trailing ones that decide as the default does.
func simplify(rs []ddRule, def Action) []ddRule {
	if i := slices.IndexFunc(rs, func(r ddRule) bool { return len(r.atoms) == 0 }); i >= 0 {
		rs = rs[:i+1]
	}
	for len(rs) > 0 && rs[len(rs)-1].act == def {
		rs = rs[:len(rs)-1]
	}
	return rs
}

// stateKey encodes a state for the memo.
func stateKey(rs []ddRule, def Action) string {
	b := binary.LittleEndian.AppendUint32(nil, def.Ret())
	for _, r := range rs {
		b = binary.LittleEndian.AppendUint32(b, r.act.Ret())
		b = append(b, byte(len(r.atoms)))
		for _, at := range r.atoms {
			b = appendStage(b, at.stage)
			if at.at == isNext {
				b = appendStage(b, at.lo)
			}
		}
	}
	return string(b)
}

func appendStage(b []byte, s stage) []byte {
	b = binary.LittleEndian.AppendUint32(b, s.w.off)
	b = binary.LittleEndian.AppendUint32(b, s.w.mask)
	b = binary.LittleEndian.AppendUint32(b, s.c)
	return append(b, byte(s.below), byte(s.at), byte(s.above))
}

// chain compiles the rules one after the other: each rule's atoms in
// turn, a failing one going on to the next rule.
func (a *argCompiler) chain(rs []ddRule, def Action) nodeID {
	next := a.g.ret(def)
	for i := len(rs) - 1; i >= 0; i-- {
		pass := a.g.ret(rs[i].act)
		for j := len(rs[i].atoms) - 1; j >= 0; j-- {
			pass = a.test(rs[i].atoms[j], pass, next)
		}
		next = pass
	}
	return next
}

// test returns a node going to pass when at holds, else to fail.
func (a *argCompiler) test(at atom, pass, fail nodeID) nodeID {
	var second nodeID
	if at.at == isNext {
		second = a.test(atom{stage: at.lo}, pass, fail)
	}
	to := func(o outcome) nodeID {
		switch o {
		case isTrue:
			return pass
		case isFalse:
			return fail
		}
		return second
	}
	return a.g.switchOn(at.w, stageSegs(at.stage, to(at.below), to(at.at), to(at.above)), 1<<32, argShape)
}

// stageSegs returns the segments of a stage: below, at and above c.
func stageSegs(s stage, below, at, above nodeID) []seg {
	var segs []seg
	if s.c > 0 {
		segs = append(segs, seg{start: 0, to: below, weight: 1})
	}
	segs = append(segs, seg{start: uint64(s.c), to: at, weight: 1})
	if s.c < math.MaxUint32 {
		segs = append(segs, seg{start: uint64(s.c) + 1, to: above, weight: 1})
	}
	return segs
}
