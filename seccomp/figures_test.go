package seccomp

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// figureCeilings are the figure profiles (Docker's default and three
// larger ones of our own: an allow-list with many argument rules, a
// deny-list mixing actions, and argument checks shared by many syscalls)
// with the ceilings testdata/figures.json records for them.
type figureCeilings struct {
	File            string
	LibseccompInsns *int // nil: libseccomp did not finish
	MaxInsns        int  // the ceiling when LibseccompInsns is nil
	MaxMean64       float64
	MaxMax64        int
}

func loadFigureCeilings(tb testing.TB) []figureCeilings {
	data, err := os.ReadFile("testdata/figures.json")
	if err != nil {
		tb.Fatal(err)
	}
	var f struct{ Profiles []figureCeilings }
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatal(err)
	}
	return f.Profiles
}

type figures struct {
	insns            int
	mean64, meanAll  float64 // executed, zero arguments: x86_64; all three ABIs
	max64, maxAll    int     // executed, over argVectors too
	calls64, callsAl int
}

// programFigures runs every syscall number of the three ABIs' tables
// through prog: the mean with zero arguments, the maximum also over the
// argument sets of argVectors.
func programFigures(prog *Program) figures {
	f := figures{insns: len(prog.Instructions())}
	var sum64, sumAll int
	for _, abi := range []syscalls.Arch{syscalls.X86_64, syscalls.I386, syscalls.X32} {
		arch := uint32(unix.AUDIT_ARCH_X86_64)
		if abi == syscalls.I386 {
			arch = unix.AUDIT_ARCH_I386
		}
		for _, e := range syscalls.Table(abi) {
			d := cbpf.SeccompData{Nr: int32(e.Nr), Arch: arch}
			_, n := cbpf.Exec(prog.Instructions(), &d)
			most := n
			for _, args := range argVectors() {
				d.Args = args
				_, m := cbpf.Exec(prog.Instructions(), &d)
				most = max(most, m)
			}
			sumAll, f.callsAl, f.maxAll = sumAll+n, f.callsAl+1, max(f.maxAll, most)
			if abi == syscalls.X86_64 {
				sum64, f.calls64, f.max64 = sum64+n, f.calls64+1, max(f.max64, most)
			}
		}
	}
	f.mean64, f.meanAll = float64(sum64)/float64(f.calls64), float64(sumAll)/float64(f.callsAl)
	return f
}

// TestProgramFigures prints, for each figure profile, the program length
// and the executed instructions per syscall (x86_64, and all three ABIs),
//
//	go test -run TestProgramFigures -v ./seccomp/
//
// and fails when a program is longer than libseccomp's for the same
// profile or executes more than the recorded ceilings.
func TestProgramFigures(t *testing.T) {
	for _, c := range loadFigureCeilings(t) {
		path := "testdata/" + c.File
		prog, _, err := CompileProfile(mustParseFile(path), dockerTarget)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		f := programFigures(prog)
		limit, of := c.MaxInsns, "confine before issue 15"
		if c.LibseccompInsns != nil {
			limit, of = *c.LibseccompInsns, "libseccomp"
		}
		t.Logf("%-40s %5d insns (%s %d, %.2fx); executed x86_64 mean %5.2f max %3d; all ABIs mean %5.2f max %3d",
			path, f.insns, of, limit, float64(f.insns)/float64(limit), f.mean64, f.max64, f.meanAll, f.maxAll)
		if f.insns > limit {
			t.Errorf("%s: %d instructions, more than %s's %d", path, f.insns, of, limit)
		}
		if f.mean64 > c.MaxMean64 || f.max64 > c.MaxMax64 {
			t.Errorf("%s: executed mean %.2f max %d, ceilings %.2f and %d", path, f.mean64, f.max64, c.MaxMean64, c.MaxMax64)
		}
	}
}

// TestFigureProfilesDecide checks the figure profiles' programs, with x32
// calls dispatched either way, against Resolved.Evaluate on every number
// up to 1100 of each ABI, numbers far beyond, and (for syscalls with
// argument rules) the argument sets of argVectors.
func TestFigureProfilesDecide(t *testing.T) {
	for _, c := range loadFigureCeilings(t) {
		r, _, err := Resolve(mustParseFile("testdata/"+c.File), dockerTarget)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []x32Mode{x32Auto, x32Own, x32Shared} {
			prog, err := compile(r, mode)
			if err == nil {
				err = cbpf.Validate(prog.Instructions())
			}
			if err != nil {
				t.Fatalf("%s: %v", c.File, err)
			}
			for _, p := range figureProbes() {
				args := [][6]uint64{{}}
				if abi, _ := r.ABI(p.arch, p.nr); hasRules(r.Rules[abi], p.nr) {
					args = argVectors()
				}
				for _, a := range args {
					ret, _ := cbpf.Exec(prog.Instructions(), &cbpf.SeccompData{Nr: int32(p.nr), Arch: p.arch, Args: a})
					if got, want := ActionFromRet(ret), r.Evaluate(p.arch, p.nr, a); got != want {
						t.Fatalf("%s (x32 mode %d): arch %#x nr %#x args %#x: filter %v, rules %v", c.File, mode, p.arch, p.nr, a, got, want)
					}
				}
			}
		}
	}
}

// figureProbes are the numbers 0..1099 of each ABI and far ones.
func figureProbes() []probe {
	var ps []probe
	for nr := uint32(0); nr < 1100; nr++ {
		ps = append(ps, probe{syscalls.X86_64, unix.AUDIT_ARCH_X86_64, nr},
			probe{syscalls.X32, unix.AUDIT_ARCH_X86_64, nr | syscalls.X32Bit},
			probe{syscalls.I386, unix.AUDIT_ARCH_I386, nr})
	}
	for _, nr := range []uint32{0x3fffffff, 0x80000000, 0xbfffffff, 0xc0000000, 0xffffffff} {
		ps = append(ps, probe{syscalls.X86_64, unix.AUDIT_ARCH_X86_64, nr}, probe{syscalls.I386, unix.AUDIT_ARCH_I386, nr})
	}
	return ps
}

func hasRules(rules []Rule, nr uint32) bool {
	return slices.ContainsFunc(rules, func(r Rule) bool { return r.Nr == nr && len(r.Conds) > 0 })
}

// BenchmarkCompileFigures compiles each figure profile (resolved once).
func BenchmarkCompileFigures(b *testing.B) {
	for _, c := range loadFigureCeilings(b) {
		r, _, err := Resolve(mustParseFile("testdata/"+c.File), dockerTarget)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(c.File, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			var prog *Program
			for b.Loop() {
				if prog, err = Compile(r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(prog.Instructions())), "insns")
		})
	}
}
