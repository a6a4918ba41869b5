package seccomp

import (
	"math"
	"slices"

	"github.com/confinelab/confine/internal/cbpf"
)

// emitRules emits the argument checks of one syscall; A is clobbered.
func emitRules(b *cbpf.Builder, rules []Rule, def Action, args32 bool) {
	if args32 {
		rules = lowRules(rules)
	}
	if pw, ok := piecewise(rules, def); ok {
		emitPiecewise(b, rules[0].Conds[0].Index, pw, args32)
		return
	}
	for _, r := range rules {
		fail := b.NewLabel()
		for _, c := range r.Conds {
			if args32 {
				emitCond32(b, c, fail)
			} else {
				emitCond(b, c, fail)
			}
		}
		b.Ret(r.Action.Ret())
		b.Bind(fail)
	}
	b.Ret(def.Ret())
}

// emitCond falls through when c holds and jumps to fail otherwise.
func emitCond(b *cbpf.Builder, c Cond, fail cbpf.Label) {
	vh, vl := uint32(c.Value>>32), uint32(c.Value)
	hiOff, loOff := cbpf.ArgHi(c.Index), cbpf.ArgLo(c.Index)
	ok := b.NewLabel()
	switch c.Op {
	case EQ:
		b.Stmt(cbpf.LdAbsW, hiOff)
		b.JumpIf(cbpf.JeqK, vh, cbpf.Next, fail)
		b.Stmt(cbpf.LdAbsW, loOff)
		b.JumpIf(cbpf.JeqK, vl, cbpf.Next, fail)
	case NE:
		b.Stmt(cbpf.LdAbsW, hiOff)
		b.JumpIf(cbpf.JeqK, vh, cbpf.Next, ok)
		b.Stmt(cbpf.LdAbsW, loOff)
		b.JumpIf(cbpf.JeqK, vl, fail, cbpf.Next)
	case GT, GE:
		b.Stmt(cbpf.LdAbsW, hiOff)
		b.JumpIf(cbpf.JgtK, vh, ok, cbpf.Next)
		b.JumpIf(cbpf.JeqK, vh, cbpf.Next, fail)
		b.Stmt(cbpf.LdAbsW, loOff)
		op := uint16(cbpf.JgtK)
		if c.Op == GE {
			op = cbpf.JgeK
		}
		b.JumpIf(op, vl, cbpf.Next, fail)
	case LT, LE:
		b.Stmt(cbpf.LdAbsW, hiOff)
		b.JumpIf(cbpf.JgtK, vh, fail, cbpf.Next)
		b.JumpIf(cbpf.JeqK, vh, cbpf.Next, ok)
		b.Stmt(cbpf.LdAbsW, loOff)
		op := uint16(cbpf.JgeK) // LT fails when lo >= v
		if c.Op == LE {
			op = cbpf.JgtK
		}
		b.JumpIf(op, vl, fail, cbpf.Next)
	case MaskedEQ:
		mh, ml := uint32(c.Value>>32), uint32(c.Value)
		wh, wl := uint32(c.ValueTwo>>32)&mh, uint32(c.ValueTwo)&ml
		emitMasked(b, hiOff, mh, wh, fail)
		emitMasked(b, loOff, ml, wl, fail)
	}
	b.Bind(ok)
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

// emitCond32 is emitCond for an argument whose upper word is zero: the
// high-word comparison is decided here and only the low word is loaded.
func emitCond32(b *cbpf.Builder, c Cond, fail cbpf.Label) {
	vh := uint32(c.Value >> 32)
	lo := c
	lo.Value, lo.ValueTwo = uint64(uint32(c.Value)), uint64(uint32(c.ValueTwo))
	switch c.Op {
	case EQ, GT, GE:
		if vh != 0 { // 0 == vh, 0 > vh, 0 >= vh: all false
			b.Jump(fail)
			return
		}
	case NE, LT, LE:
		if vh != 0 { // 0 != vh, 0 < vh, 0 <= vh: all true
			return
		}
	case MaskedEQ:
		emitMasked(b, cbpf.ArgLo(c.Index), uint32(lo.Value), uint32(lo.ValueTwo)&uint32(lo.Value), fail)
		return
	}
	// With equal (zero) high words the result is the low words' comparison.
	b.Stmt(cbpf.LdAbsW, cbpf.ArgLo(c.Index))
	vl := uint32(c.Value)
	switch c.Op {
	case EQ:
		b.JumpIf(cbpf.JeqK, vl, cbpf.Next, fail)
	case NE:
		b.JumpIf(cbpf.JeqK, vl, fail, cbpf.Next)
	case GT:
		b.JumpIf(cbpf.JgtK, vl, cbpf.Next, fail)
	case GE:
		b.JumpIf(cbpf.JgeK, vl, cbpf.Next, fail)
	case LT:
		b.JumpIf(cbpf.JgeK, vl, fail, cbpf.Next)
	case LE:
		b.JumpIf(cbpf.JgtK, vl, fail, cbpf.Next)
	}
}

// emitMasked checks word&mask == want, skipping what is decided statically.
func emitMasked(b *cbpf.Builder, off, mask, want uint32, fail cbpf.Label) {
	switch {
	case want&^mask != 0:
		b.Jump(fail) // never equal
	case mask == 0:
		// 0 == want (want is 0 here): always true
	default:
		b.Stmt(cbpf.LdAbsW, off)
		if mask != math.MaxUint32 {
			b.Stmt(cbpf.AndK, mask)
		}
		b.JumpIf(cbpf.JeqK, want, cbpf.Next, fail)
	}
}

// valueRange is the set of argument values a single comparison accepts,
// as up to two closed intervals.
func valueRanges(c Cond) ([][2]uint64, bool) {
	const max = math.MaxUint64
	v := c.Value
	switch c.Op {
	case EQ:
		return [][2]uint64{{v, v}}, true
	case LT:
		if v == 0 {
			return nil, true
		}
		return [][2]uint64{{0, v - 1}}, true
	case LE:
		return [][2]uint64{{0, v}}, true
	case GT:
		if v == max {
			return nil, true
		}
		return [][2]uint64{{v + 1, max}}, true
	case GE:
		return [][2]uint64{{v, max}}, true
	case NE:
		var out [][2]uint64
		if v > 0 {
			out = append(out, [2]uint64{0, v - 1})
		}
		if v < max {
			out = append(out, [2]uint64{v + 1, max})
		}
		return out, true
	}
	return nil, false
}

// piecewise turns rules that each test one condition on the same argument
// into a step function over the argument's value, when every step boundary
// lies in the low 32 bits (then the high word only needs one test).
func piecewise(rules []Rule, def Action) ([]segment, bool) {
	idx := -1
	var bounds []uint64
	ranges := make([][][2]uint64, len(rules))
	for i, r := range rules {
		if len(r.Conds) != 1 || (idx >= 0 && r.Conds[0].Index != idx) {
			return nil, false
		}
		idx = r.Conds[0].Index
		rs, ok := valueRanges(r.Conds[0])
		if !ok {
			return nil, false
		}
		ranges[i] = rs
		for _, x := range rs {
			bounds = append(bounds, x[0])
			if x[1] != math.MaxUint64 {
				bounds = append(bounds, x[1]+1)
			}
		}
	}
	bounds = append(bounds, 0, 1<<32)
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	if bounds[len(bounds)-1] > 1<<32 {
		return nil, false
	}
	segs := make([]segment, 0, len(bounds))
	for _, p := range bounds {
		act := def
	find:
		for i, rs := range ranges {
			for _, x := range rs {
				if p >= x[0] && p <= x[1] {
					act = rules[i].Action
					break find
				}
			}
		}
		segs = append(segs, segment{start: p, leaf: leaf{act: act}, weight: 1})
	}
	return mergeSegments(segs), true
}

// emitPiecewise emits a step function whose last segment starts at or
// below 2^32 and covers every value with a non-zero high word.
func emitPiecewise(b *cbpf.Builder, idx int, segs []segment, args32 bool) {
	last := segs[len(segs)-1]
	if len(segs) == 1 {
		b.Ret(last.leaf.act.Ret())
		return
	}
	if args32 { // only values below 2^32 occur
		if last.start == 1<<32 {
			segs = segs[:len(segs)-1]
		}
		b.Stmt(cbpf.LdAbsW, cbpf.ArgLo(idx))
		emitDispatch(b, segs, peelArg)
		return
	}
	high := b.NewLabel()
	b.Stmt(cbpf.LdAbsW, cbpf.ArgHi(idx))
	b.JumpIf(cbpf.JeqK, 0, cbpf.Next, high)
	b.Stmt(cbpf.LdAbsW, cbpf.ArgLo(idx))
	lo := segs
	if last.start == 1<<32 {
		lo = segs[:len(segs)-1]
	}
	emitDispatch(b, lo, peelArg)
	b.Bind(high)
	b.Ret(last.leaf.act.Ret())
}
