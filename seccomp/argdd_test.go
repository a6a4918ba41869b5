package seccomp

import (
	"math/rand/v2"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"golang.org/x/sys/unix"
)

// sockoptRules are (level, optname) pairs as allow-lists write them:
// every rule tests both arguments for equality.
func sockoptRules() []Rule {
	names := map[uint64][]uint64{0: {1, 2, 12, 32}, 1: {1, 2, 6, 7, 8, 9, 13, 15, 20, 21}, 6: {1, 2, 3, 4, 5, 6, 9, 13, 23}, 41: {26, 49, 67}}
	var rules []Rule
	for _, level := range []uint64{1, 6, 41, 0} {
		for _, name := range names[level] {
			rules = append(rules, Rule{Nr: unix.SYS_SETSOCKOPT, Action: ActAllow,
				Conds: []Cond{{Index: 1, Op: EQ, Value: level}, {Index: 2, Op: EQ, Value: name}}})
		}
	}
	return rules
}

// checkArgNode compares the node of rules with Resolved.Evaluate's
// reading of them on x86_64 and, for args32, on i386.
func checkArgNode(t *testing.T, g *graph, id nodeID, rules []Rule, def Action, args32 bool, args [][6]uint64) {
	t.Helper()
	abi, arch := ABIX86_64, uint32(unix.AUDIT_ARCH_X86_64)
	if args32 {
		abi, arch = ABII386, unix.AUDIT_ARCH_I386
	}
	nr := rules[0].Nr
	r := &Resolved{Default: def, Arches: []ABI{abi}, Rules: map[ABI][]Rule{abi: rules}}
	for _, a := range args {
		ret, _ := g.run(id, &cbpf.SeccompData{Nr: int32(nr), Arch: arch, Args: a})
		if got, want := ActionFromRet(ret), r.Evaluate(arch, nr, a); got != want {
			t.Fatalf("args %#x: node %v, rules %v", a[:3], got, want)
		}
	}
}

// sockoptArgs are the listed pairs, their neighbours and values with
// high bits.
func sockoptArgs() [][6]uint64 {
	var out [][6]uint64
	for _, level := range []uint64{0, 1, 2, 6, 41, 1<<32 | 1} {
		for name := uint64(0); name < 70; name++ {
			out = append(out, [6]uint64{0, level, name}, [6]uint64{0, level, name | 1<<40})
		}
	}
	return out
}

// TestArgDiagramTestsWordsOnce: an allow-list of (level, optname) pairs
// becomes a diagram that tests each level once and each level's names
// once, so it is much smaller than the rules one after the other (the
// chain), and it decides as the rules do.
func TestArgDiagramTestsWordsOnce(t *testing.T) {
	for _, args32 := range []bool{false, true} {
		g := newGraph()
		a := newArgCompiler(g)
		rules := sockoptRules()
		if args32 {
			rules = lowRules(rules)
		}
		var rs []ddRule
		for _, r := range rules {
			d, _ := toDD(r, args32)
			rs = append(rs, d)
		}
		a.budget = 1 << 20
		dd, ok := a.decide(rs, ActErrno(unix.EPERM))
		if !ok {
			t.Fatal("budget exceeded")
		}
		chain := a.chain(rs, ActErrno(unix.EPERM))
		// A chain tests 2 (32-bit) or 4 words per rule; the diagram about
		// one value per pair.
		if ds, cs := g.size(dd), g.size(chain); 2*ds > cs {
			t.Errorf("args32 %v: diagram %d instructions, chain %d", args32, ds, cs)
		}
		checkArgNode(t, g, dd, rules, ActErrno(unix.EPERM), args32, sockoptArgs())
		checkArgNode(t, g, chain, rules, ActErrno(unix.EPERM), args32, sockoptArgs())
		if id := a.rules(rules, ActErrno(unix.EPERM), args32); id != dd {
			t.Errorf("args32 %v: rules chose %d, not the diagram %d", args32, id, dd)
		}
	}
}

// TestArgDiagramBudget: rules whose diagram would grow with the product
// of their ranges are compiled as a chain once the budget of states runs
// out, and still decide as the rules do.
func TestArgDiagramBudget(t *testing.T) {
	rnd := rand.New(rand.NewPCG(15, 4))
	var rules []Rule
	acts := []Action{ActAllow, ActErrno(unix.EACCES), ActKillProcess}
	for i := range 40 {
		var conds []Cond
		for arg := range 6 {
			conds = append(conds, Cond{Index: arg, Op: []Op{GE, LE}[(i+arg)%2], Value: rnd.Uint64N(1000)})
		}
		rules = append(rules, Rule{Nr: unix.SYS_IOCTL, Action: acts[i%3], Conds: conds})
	}
	g := newGraph()
	a := newArgCompiler(g)
	id := a.rules(rules, ActErrno(unix.EPERM), false)
	if a.work <= a.budget {
		t.Fatalf("work %d within the budget of %d: not the case this test needs", a.work, a.budget)
	}
	var rs []ddRule
	for _, r := range rules {
		d, _ := toDD(r, false)
		rs = append(rs, d)
	}
	if id != a.chain(rs, ActErrno(unix.EPERM)) {
		t.Error("not compiled as a chain")
	}
	var args [][6]uint64
	for range 3000 {
		var a [6]uint64
		for i := range 6 {
			a[i] = rnd.Uint64N(1100)
		}
		args = append(args, a)
	}
	checkArgNode(t, g, id, rules, ActErrno(unix.EPERM), false, args)
}
