package devfilter

import (
	"fmt"
	"slices"

	"github.com/cilium/ebpf/asm"
)

// maxTreeLeaves bounds the decision tree: beyond it (rule lists of
// hundreds of distinct devices) the linear program is smaller.
const maxTreeLeaves = 256

// treeInstructions compiles rules into a decision tree over the device:
// its type, then the majors the rules name for that type, then the minors
// they name for that major (or for any major), each with an "any other"
// branch. Within one such cell every device matches the same rules, so
// one access mask decides it, computed with Evaluate for one device of
// the cell. A leaf refuses a request with any bit outside its mask. ok is
// false when the tree would have more than maxTreeLeaves leaves.
//
// The program holds no state across rules, so the verifier follows each
// path once: for Docker's default rules it checks 79 instructions instead
// of the linear program's 442 (see linearInstructions), and a device
// check in the kernel runs at most a few compares per level.
func treeInstructions(rules []Rule) (insns asm.Instructions, ok bool) {
	t := &tree{rules: rules}
	if t.leaves() > maxTreeLeaves {
		return nil, false
	}
	t.insns = prologue()
	for ti, typ := range cellTypes {
		next := fmt.Sprintf("t%d", ti)
		if typ != otherType {
			t.emit(asm.JNE.Imm(rType, int32(typ), next))
		}
		majors := t.majors(typ)
		for mi, major := range majors {
			nextMajor := fmt.Sprintf("t%d.m%d", ti, mi)
			t.emit(asm.JNE.Imm(rMajor, int32(major), nextMajor))
			t.minors(typ, major, true, nextMajor)
			t.label(nextMajor)
		}
		t.minors(typ, other(majors), false, fmt.Sprintf("t%d.mx", ti))
		if typ != otherType {
			t.label(next)
		}
	}
	t.label(labelDeny)
	t.emit(asm.Mov.Imm(asm.R0, 0))
	t.emit(asm.Return())
	if t.allows { // the verifier refuses unreachable code
		t.label(labelAllow)
		t.emit(asm.Mov.Imm(asm.R0, 1))
		t.emit(asm.Return())
	}
	return t.insns, true
}

// cellTypes are the tree's first level. The kernel asks only about block
// and character devices; otherType stands for any other value, which only
// the rules for every type match (as in the linear program and Evaluate).
var cellTypes = []Type{TypeBlock, TypeChar, otherType}

const otherType Type = 3

type tree struct {
	rules   []Rule
	insns   asm.Instructions
	pending string // label of the next instruction
	allows  bool   // some leaf jumps to labelAllow
}

// emit appends in, carrying a pending label.
func (t *tree) emit(in asm.Instruction) {
	if t.pending != "" {
		in = in.WithSymbol(t.pending)
		t.pending = ""
	}
	t.insns = append(t.insns, in)
}

// label names the next instruction. Every label is followed by at least
// one instruction before the next one is set.
func (t *tree) label(name string) {
	if t.pending != "" {
		panic("devfilter: two labels on one instruction: " + t.pending + ", " + name)
	}
	t.pending = name
}

// minors emits the branches for the minors of one major cell (explicit
// major: the rules naming it or any major; the other majors: the rules
// naming any major) and their leaves.
func (t *tree) minors(typ Type, major uint32, explicit bool, prefix string) {
	minors := t.minorsOf(typ, major, explicit)
	for ni, minor := range minors {
		next := fmt.Sprintf("%s.n%d", prefix, ni)
		t.emit(asm.JNE.Imm(rMinor, int32(minor), next))
		t.leaf(typ, major, minor)
		t.label(next)
	}
	t.leaf(typ, major, other(minors))
}

// leaf decides the cell of the device: it allows a request whose bits all
// lie in the access Evaluate grants the device. A request of no bits (the
// kernel's check for exec alone) passes only where an allow rule matches
// the device, as in the linear program.
func (t *tree) leaf(typ Type, major, minor uint32) {
	var mask Access
	for bit := AccMknod; bit <= AccWrite; bit <<= 1 {
		if Evaluate(t.rules, typ, major, minor, bit) {
			mask |= bit
		}
	}
	emptyOK := slices.ContainsFunc(t.rules, func(r Rule) bool { return r.Allow && r.matches(typ, major, minor) })
	switch {
	case mask == 0 && !emptyOK:
		t.emit(asm.Ja.Label(labelDeny))
		return
	case !emptyOK:
		t.emit(asm.JEq.Imm(rAccess, 0, labelDeny))
	}
	t.emit(asm.JSet.Imm(rAccess, int32(^uint32(mask)), labelDeny))
	t.emit(asm.Ja.Label(labelAllow))
	t.allows = true
}

// majors are the majors the rules for typ name, sorted.
func (t *tree) majors(typ Type) []uint32 {
	var ms []uint32
	for _, r := range t.rules {
		if (r.Type == TypeAll || r.Type == typ) && r.Major != Wildcard {
			ms = append(ms, uint32(r.Major))
		}
	}
	slices.Sort(ms)
	return slices.Compact(ms)
}

// minorsOf are the minors named by the rules for typ that match major:
// naming it (explicit) or any major.
func (t *tree) minorsOf(typ Type, major uint32, explicit bool) []uint32 {
	var ns []uint32
	for _, r := range t.rules {
		if (r.Type == TypeAll || r.Type == typ) && r.Minor != Wildcard &&
			(r.Major == Wildcard || explicit && r.Major == int64(major)) {
			ns = append(ns, uint32(r.Minor))
		}
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// leaves counts the tree's leaves, stopping once past maxTreeLeaves: each
// major costs a pass over the rules, and a list of thousands of distinct
// devices would otherwise pay quadratic time only to be refused.
func (t *tree) leaves() int {
	n := 0
	for _, typ := range cellTypes {
		for _, m := range t.majors(typ) {
			n += len(t.minorsOf(typ, m, true)) + 1
			if n > maxTreeLeaves {
				return n
			}
		}
		n += len(t.minorsOf(typ, 0, false)) + 1
	}
	return n
}

// other is the smallest number not in sorted: a member of the "any other"
// cell.
func other(sorted []uint32) uint32 {
	var v uint32
	for _, s := range sorted {
		if s != v {
			break
		}
		v++
	}
	return v
}
