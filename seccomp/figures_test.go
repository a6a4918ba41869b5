package seccomp

import (
	"os"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// figureProfiles are the profiles whose program figures the README and
// issue notes quote: Docker's default and three larger ones of our own
// (an allow-list with many argument rules, a deny-list mixing actions,
// and argument checks shared by many syscalls).
var figureProfiles = []string{
	"testdata/docker-default-v0.3.0.json",
	"testdata/large-allowlist.json",
	"testdata/denylist-mixed.json",
	"testdata/argument-heavy.json",
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
// and the executed instructions per syscall (x86_64, and all three ABIs):
//
//	go test -run TestProgramFigures -v ./seccomp/
func TestProgramFigures(t *testing.T) {
	for _, path := range figureProfiles {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		prog, _, err := CompileProfile(p, dockerTarget)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		f := programFigures(prog)
		t.Logf("%-40s %5d insns; executed x86_64 mean %5.2f max %3d; all ABIs mean %5.2f max %3d",
			path, f.insns, f.mean64, f.max64, f.meanAll, f.maxAll)
	}
}
