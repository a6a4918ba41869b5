package devfilter

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/asm"
)

var (
	allowAll = Rule{Type: TypeAll, Major: Wildcard, Minor: Wildcard, Access: AccAll, Allow: true}
	denyAll  = Rule{Type: TypeAll, Major: Wildcard, Minor: Wildcard, Access: AccAll}
	null     = Rule{Type: TypeChar, Major: 1, Minor: 3, Access: AccAll, Allow: true}
)

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []Rule
		typ   Type
		maj   uint32
		min   uint32
		acc   Access
		want  bool
	}{
		{"empty denies", nil, TypeChar, 1, 3, AccRead, false},
		{"allow all", []Rule{allowAll}, TypeBlock, 8, 0, AccAll, true},
		{"exact allow", []Rule{null}, TypeChar, 1, 3, AccRead | AccWrite, true},
		{"wrong type", []Rule{null}, TypeBlock, 1, 3, AccRead, false},
		{"wrong minor", []Rule{null}, TypeChar, 1, 5, AccRead, false},
		{"deny all after allow", []Rule{null, denyAll}, TypeChar, 1, 3, AccRead, false},
		{"allow after deny all", []Rule{denyAll, null}, TypeChar, 1, 3, AccRead, true},
		{"later partial deny w", []Rule{null, {Type: TypeChar, Major: 1, Minor: 3, Access: AccWrite}},
			TypeChar, 1, 3, AccRead | AccWrite, false},
		{"later partial deny w, read only", []Rule{null, {Type: TypeChar, Major: 1, Minor: 3, Access: AccWrite}},
			TypeChar, 1, 3, AccRead, true},
		{"bits from two rules", []Rule{
			{Type: TypeChar, Major: 1, Minor: Wildcard, Access: AccRead, Allow: true},
			{Type: TypeAll, Major: Wildcard, Minor: 3, Access: AccWrite, Allow: true}},
			TypeChar, 1, 3, AccRead | AccWrite, true},
		{"one bit missing", []Rule{{Type: TypeChar, Major: 1, Minor: Wildcard, Access: AccRead, Allow: true}},
			TypeChar, 1, 3, AccRead | AccWrite, false},
		{"mknod wildcard", []Rule{{Type: TypeChar, Major: Wildcard, Minor: Wildcard, Access: AccMknod, Allow: true}},
			TypeChar, 200, 9, AccMknod, true},
	} {
		if got := Evaluate(tc.rules, tc.typ, tc.maj, tc.min, tc.acc); got != tc.want {
			t.Errorf("%s: Evaluate = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Rule{
		{Type: 3, Major: 1, Minor: 1, Access: AccRead},
		{Type: TypeChar, Major: -2, Minor: 1, Access: AccRead},
		{Type: TypeChar, Major: MaxMajor + 1, Minor: 1, Access: AccRead},
		{Type: TypeChar, Major: 1, Minor: MaxMinor + 1, Access: AccRead},
		{Type: TypeChar, Major: 1, Minor: 1},
		{Type: TypeChar, Major: 1, Minor: 1, Access: 8},
	}
	for _, r := range bad {
		if r.Validate() == nil {
			t.Errorf("%+v: Validate = nil, want error", r)
		}
		if _, err := Instructions([]Rule{r}); err == nil {
			t.Errorf("%+v: Instructions accepted an invalid rule", r)
		}
	}
	for _, rules := range [][]Rule{nil, {denyAll}} {
		insns, err := Instructions(rules)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insns {
			if in.Symbol() == labelAllow {
				t.Errorf("%v: unreachable allow block generated", rules)
			}
		}
	}
	if _, err := Instructions(make([]Rule, MaxRules+1)); err == nil {
		t.Error("Instructions accepted too many rules")
	}
}

// TestInstructionsShape checks the linear program's structure: a fixed prologue,
// rules in reverse order with only the comparisons they need, and a
// deny/allow epilogue, with every jump resolving to a label.
func TestInstructionsShape(t *testing.T) {
	rules := []Rule{denyAll, null, {Type: TypeBlock, Major: 8, Minor: Wildcard, Access: AccRead, Allow: true}}
	insns := linearInstructions(rules)
	// prologue 8; rule2: type+major+5+2; rule1: 3+5+2; rule0: 5+1; epilogue 4
	if want := 8 + 9 + 10 + 6 + 4; len(insns) != want {
		t.Fatalf("%d instructions, want %d:\n%v", len(insns), want, insns)
	}
	syms := map[string]int{}
	for i, in := range insns {
		if s := in.Symbol(); s != "" {
			syms[s] = i
		}
	}
	if !(syms["rule2"] < syms["rule1"] && syms["rule1"] < syms["rule0"] && syms["rule0"] < syms["deny"]) {
		t.Fatalf("rules not in reverse order: %v", syms)
	}
	for _, in := range insns {
		if in.OpCode.Class().IsJump() && in.OpCode.JumpOp() != asm.Exit {
			if _, ok := syms[in.Reference()]; !ok {
				t.Errorf("jump to unknown label %q", in.Reference())
			}
		}
	}
	if err := insns.Marshal(new(nopWriter), binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v", err)
	}
}

// dockerRules are Docker's default device rules.
func dockerRules() []Rule {
	rules := []Rule{
		{Type: TypeChar, Major: Wildcard, Minor: Wildcard, Access: AccMknod, Allow: true},
		{Type: TypeBlock, Major: Wildcard, Minor: Wildcard, Access: AccMknod, Allow: true},
	}
	for _, d := range [][2]int64{{1, 3}, {1, 8}, {1, 7}, {5, 0}, {1, 5}, {1, 9}, {5, 1}, {136, Wildcard}, {5, 2}} {
		rules = append(rules, Rule{Type: TypeChar, Major: d[0], Minor: d[1], Access: AccAll, Allow: true})
	}
	return rules
}

// TestTreeChosen: Instructions makes the decision tree of Docker's rules
// (smaller than their linear program, every jump resolving to a label)
// and falls back to the linear program for a list whose tree would have
// more than maxTreeLeaves leaves.
func TestTreeChosen(t *testing.T) {
	insns, err := Instructions(dockerRules())
	if err != nil {
		t.Fatal(err)
	}
	linear := linearInstructions(dockerRules())
	tree, ok := treeInstructions(dockerRules())
	if !ok || len(insns) != len(tree) || len(tree) >= len(linear) {
		t.Fatalf("Docker's rules: %d instructions, tree %d (%v), linear %d: want the tree, and smaller", len(insns), len(tree), ok, len(linear))
	}
	syms := map[string]bool{}
	for _, in := range tree {
		if s := in.Symbol(); s != "" {
			syms[s] = true
		}
	}
	for _, in := range tree {
		if in.OpCode.Class().IsJump() && in.OpCode.JumpOp() != asm.Exit && !syms[in.Reference()] {
			t.Errorf("jump to unknown label %q", in.Reference())
		}
	}
	// Distinct majors each with a minor: two leaves apiece.
	var many []Rule
	for i := range maxTreeLeaves {
		many = append(many, Rule{Type: TypeChar, Major: int64(i), Minor: 1, Access: AccRead, Allow: true})
	}
	if _, ok := treeInstructions(many); ok {
		t.Fatalf("a tree for %d rules of distinct devices, want none beyond %d leaves", len(many), maxTreeLeaves)
	}
	if insns, err := Instructions(many); err != nil || len(insns) != len(linearInstructions(many)) {
		t.Fatalf("%d rules: %d instructions, %v: want the linear program", len(many), len(insns), err)
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestDetachNotCgroup: a directory that is not on cgroupfs (a fake root in
// tests) has nothing attached; Detach is a no-op there, where querying
// would fail with EBADF.
func TestDetachNotCgroup(t *testing.T) {
	if err := Detach(t.TempDir(), ""); err != nil {
		t.Fatalf("Detach on a plain directory: %v", err)
	}
}
