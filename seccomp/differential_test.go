package seccomp

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// refMux is libseccomp's i386 multiplexing, written out independently of
// multiplex.go: name -> (multiplexer, call number).
var refMux = map[string][2]uint64{"socket": {102, 1}, "connect": {102, 3}, "accept": {102, 5},
	"send": {102, 9}, "setsockopt": {102, 14}, "semop": {117, 1}, "semtimedop": {117, 4}, "shmctl": {117, 24}}

var diffNames = []string{"read", "ioctl", "getppid", "socket", "connect", "accept", "send", "setsockopt",
	"semop", "semtimedop", "shmctl", "socketcall", "ipc", "mmap", "_llseek"}

// refDecide is libseccomp's decision for a call, as documented and as
// runc builds rules, computed from the raw profile: groups with the
// default action dropped; two conditions on one argument split into
// alternatives; on i386 the multiplexed form added; an unconditional rule
// overrides the others (the first one wins); else the first matching rule
// in profile order; 32-bit ABIs compare low words; confine's own additions
// (foreign arches killed, ENOSYS above the newest syscall) last.
func refDecide(p *Profile, abi syscalls.Arch, nr uint32, args [6]uint64) Action {
	def, _ := parseAction(p.DefaultAction, p.DefaultErrnoRet)
	type rule struct {
		act   Action
		conds []Arg
	}
	var rules []rule
	for _, g := range p.Syscalls {
		act, _ := parseAction(g.Action, g.ErrnoRet)
		if act == def {
			continue
		}
		sets := [][]Arg{g.Args}
		seen := map[uint]bool{}
		for _, a := range g.Args {
			if seen[a.Index] {
				sets = nil
				for _, a := range g.Args {
					sets = append(sets, []Arg{a})
				}
				break
			}
			seen[a.Index] = true
		}
		for _, name := range g.Names {
			if n, ok := syscalls.Lookup(abi, name); ok && n == nr {
				for _, s := range sets {
					rules = append(rules, rule{act, s})
				}
			}
			if m, ok := refMux[name]; ok && abi == syscalls.I386 && uint64(nr) == m[0] {
				for _, s := range sets {
					c := []Arg{{Index: 0, Op: OpEQ, Value: m[1]}}
					for _, a := range s {
						if a.Index != 0 {
							c = append(c, a)
						}
					}
					rules = append(rules, rule{act, c})
				}
			}
		}
	}
	for _, r := range rules {
		if len(r.conds) == 0 {
			return r.act
		}
	}
	w := func(v uint64) uint64 { return v }
	if abi != syscalls.X86_64 {
		w = func(v uint64) uint64 { return v & 0xffffffff }
	}
	for _, r := range rules {
		ok := true
		for _, a := range r.conds {
			x, v, v2 := w(args[a.Index]), w(a.Value), w(a.ValueTwo)
			switch a.Op {
			case OpNE:
				ok = ok && x != v
			case OpLT:
				ok = ok && x < v
			case OpLE:
				ok = ok && x <= v
			case OpEQ:
				ok = ok && x == v
			case OpGE:
				ok = ok && x >= v
			case OpGT:
				ok = ok && x > v
			case OpMaskedEQ:
				ok = ok && x&v == v2&v
			}
		}
		if ok {
			return r.act
		}
	}
	if def.Kind != Allow && nr > syscalls.Newest(abi) && syscalls.Name(abi, nr) == "" {
		return ActENOSYS
	}
	return def
}

// randProfile draws a profile: every op, values with high bits, masks
// with datum bits outside, several rules per syscall, every action, all
// three ABIs.
func randProfile(rnd *rand.Rand) *Profile {
	vals := []uint64{0, 1, 3, 5, 0xff, 0x1ff, 0xffffffff, 1 << 32, 1<<32 | 5, 0xffffffff_ffffffff, 0x8000_0000_0000_0003}
	val := func() uint64 { return vals[rnd.IntN(len(vals))] + uint64(rnd.IntN(3)) - 1 }
	p := &Profile{DefaultAction: fuzzActions[rnd.IntN(len(fuzzActions))], Architectures: allABIs}
	for g := rnd.IntN(10); g > 0; g-- {
		sc := Syscall{Action: fuzzActions[rnd.IntN(len(fuzzActions))]}
		if rnd.IntN(2) == 0 {
			e := uint(1 + rnd.IntN(3))
			sc.ErrnoRet = &e
		}
		for n := 1 + rnd.IntN(3); n > 0; n-- {
			sc.Names = append(sc.Names, diffNames[rnd.IntN(len(diffNames))])
		}
		for n := rnd.IntN(4); n > 0; n-- {
			sc.Args = append(sc.Args, Arg{Index: uint(rnd.IntN(3)), Op: fuzzOps[rnd.IntN(len(fuzzOps))], Value: val(), ValueTwo: val()})
		}
		p.Syscalls = append(p.Syscalls, sc)
	}
	return p
}

// checkAgainstReference compiles p and compares program and Evaluate with
// refDecide on every name's number and a set of arguments, per ABI.
func checkAgainstReference(t *testing.T, p *Profile, rnd *rand.Rand) bool {
	r, _, err := Resolve(p, Target{Kernel: "6.1"})
	if err != nil {
		var pe *InvalidError
		if !errors.As(err, &pe) {
			t.Fatalf("untyped error %v", err)
		}
		return false // a conflict libseccomp refuses too (EEXIST)
	}
	// Both ways of dispatching x32 calls (Compile picks one by cost).
	var progs []*Program
	for _, mode := range []x32Mode{x32Own, x32Shared} {
		prog, err := compile(r, mode)
		if err != nil {
			t.Fatal(err)
		}
		progs = append(progs, prog)
	}
	vals := []uint64{0, 1, 2, 3, 4, 5, 6, 0xff, 0x1ff, 0xfe, 0xffffffff, 1 << 32, 1<<32 | 5, 0xffffffff_ffffffff}
	for _, abi := range []syscalls.Arch{syscalls.X86_64, syscalls.I386, syscalls.X32} {
		arch := uint32(unix.AUDIT_ARCH_X86_64)
		if abi == syscalls.I386 {
			arch = unix.AUDIT_ARCH_I386
		}
		nrs := []uint32{102, 117, 500, 600}
		if abi == syscalls.X32 {
			for i := range nrs {
				nrs[i] |= syscalls.X32Bit
			}
		}
		for _, n := range diffNames {
			if nr, ok := syscalls.Lookup(abi, n); ok {
				nrs = append(nrs, nr)
			}
			// x32 numbers of native-only calls (ioctl is 16 natively,
			// 514 on x32): what a shared dispatch must not let through.
			if nr, ok := syscalls.Lookup(syscalls.X86_64, n); ok && abi == syscalls.X32 {
				nrs = append(nrs, nr|syscalls.X32Bit)
			}
		}
		switch abi { // far numbers: beyond every table, the masks' edges
		case syscalls.X86_64:
			nrs = append(nrs, 0x3fffffff, 0x80000000, 0xbfffffff)
		case syscalls.X32:
			nrs = append(nrs, 0x7fffffff, 0xc0000000, 0xc0000010, 0xffffffff)
		}
		for _, nr := range nrs {
			for k := 0; k < 40; k++ {
				var args [6]uint64
				for i := range args[:3] {
					args[i] = vals[rnd.IntN(len(vals))]
				}
				want := refDecide(p, abi, nr, args)
				for mode, prog := range progs {
					ret, _ := cbpf.Exec(prog.Instructions(), &cbpf.SeccompData{Nr: int32(nr), Arch: arch, Args: args})
					if got := ActionFromRet(ret); got != want {
						t.Fatalf("%v nr %d args %#x: filter (x32 mode %d) %v, reference %v\nprofile %+v", abi, nr, args[:3], mode+1, got, want, p.Syscalls)
					}
				}
				if ev := r.Evaluate(arch, nr, args); ev != want {
					t.Fatalf("%v nr %d args %#x: Evaluate %v, reference %v\nprofile %+v", abi, nr, args[:3], ev, want, p.Syscalls)
				}
			}
		}
	}
	return true
}

// TestDifferentialAgainstReference checks 400 random profiles.
func TestDifferentialAgainstReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(15, 2025))
	checked := 0
	for range 400 {
		if checkAgainstReference(t, randProfile(rnd), rnd) {
			checked++
		}
	}
	if checked < 200 {
		t.Fatalf("only %d of 400 profiles resolved", checked)
	}
}

// FuzzDifferential is TestDifferentialAgainstReference from fuzzer seeds.
func FuzzDifferential(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(15), uint64(102))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		rnd := rand.New(rand.NewPCG(a, b))
		checkAgainstReference(t, randProfile(rnd), rnd)
	})
}
