package seccomp

import "math"

// An argument condition compares a 64-bit value, but classic BPF loads 32
// bits at a time: a condition is tested as one or two atoms, each
// comparing one word (masked for MaskedEQ) with a constant c. The first
// atom of a 64-bit comparison tests the high word; when it equals c the
// answer depends on the low word, the atom's second stage.

// outcome is what an atom's test says for a range of values.
type outcome uint8

const (
	isFalse outcome = iota
	isTrue
	isNext // go on with the second stage (only for at)
)

// stage tests word w against c: below, at or above c.
type stage struct {
	w                word
	c                uint32
	below, at, above outcome
}

// atom is a stage, and when at is isNext, the stage that follows.
type atom struct {
	stage
	lo stage
}

// of returns the outcome of s for the value x.
func (s stage) of(x uint32) outcome {
	switch {
	case x < s.c:
		return s.below
	case x > s.c:
		return s.above
	}
	return s.at
}

// constant reports whether s says the same for every value, and what.
func (s stage) constant() (outcome, bool) {
	below, above := s.below, s.above
	if s.c == 0 {
		below = s.at
	}
	if s.c == math.MaxUint32 {
		above = s.at
	}
	return s.at, s.at != isNext && below == s.at && above == s.at
}

// Outcomes of each operator: below, at and above the value.
var opStages = map[Op][3]outcome{
	EQ: {isFalse, isTrue, isFalse}, NE: {isTrue, isFalse, isTrue},
	GT: {isFalse, isFalse, isTrue}, GE: {isFalse, isTrue, isTrue},
	LT: {isTrue, isFalse, isFalse}, LE: {isTrue, isTrue, isFalse},
	MaskedEQ: {isFalse, isTrue, isFalse},
}

// atomsOf returns the atom of c: ok false when c never holds, always
// true when it always does (then there is no atom). On a 32-bit ABI only
// the low words are compared.
func atomsOf(c Cond, args32 bool) (a atom, always, ok bool) {
	o := opStages[c.Op]
	lo := stage{w: argWord(c.Index, false, fullMask), c: uint32(c.Value), below: o[0], at: o[1], above: o[2]}
	hi := stage{w: argWord(c.Index, true, fullMask), c: uint32(c.Value >> 32), below: o[0], at: isNext, above: o[2]}
	if c.Op == MaskedEQ {
		mh, ml := uint32(c.Value>>32), uint32(c.Value)
		lo.w.mask, lo.c = ml, uint32(c.ValueTwo)&ml
		hi.w.mask, hi.c = mh, uint32(c.ValueTwo>>32)&mh
	}
	if args32 || hi.w.mask == 0 { // the high word is not compared
		return single(lo)
	}
	if lo.w.mask == 0 {
		hi.at = isTrue // 0 == 0
	} else if out, k := lo.constant(); k {
		hi.at = out
	}
	if hi.at != isNext {
		lo = stage{}
	}
	if out, k := hi.constant(); k {
		return atom{}, out == isTrue, out == isTrue
	}
	return atom{stage: hi, lo: lo}, false, true
}

// single returns the atom of one stage.
func single(s stage) (atom, bool, bool) {
	if s.w.mask == 0 {
		return atom{}, true, true // MaskedEQ with mask 0: 0 == 0
	}
	if out, k := s.constant(); k {
		return atom{}, out == isTrue, out == isTrue
	}
	return atom{stage: s}, false, true
}
