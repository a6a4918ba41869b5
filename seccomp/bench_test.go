package seccomp

import (
	"runtime"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

type execStats struct {
	allowedMean, allMean float64
	allowedMax, allMax   int
}

// x86_64Stats runs every x86_64 syscall of the table (zero arguments, and
// the argument sets of argVectors for syscalls with argument rules) through
// prog and counts executed instructions.
func x86_64Stats(prog *Program) execStats {
	var s execStats
	var nAll, nAllowed, sumAll, sumAllowed int
	for _, e := range syscalls.Table(syscalls.X86_64) {
		d := cbpf.SeccompData{Nr: int32(e.Nr), Arch: unix.AUDIT_ARCH_X86_64}
		ret, n := cbpf.Exec(prog.Instructions(), &d)
		nAll++
		sumAll += n
		s.allMax = max(s.allMax, n)
		if ActionFromRet(ret).Kind == Allow {
			nAllowed++
			sumAllowed += n
			s.allowedMax = max(s.allowedMax, n)
		}
		for _, args := range argVectors() { // worst cases through argument checks
			d.Args = args
			_, n := cbpf.Exec(prog.Instructions(), &d)
			s.allMax = max(s.allMax, n)
		}
	}
	s.allMean = float64(sumAll) / float64(nAll)
	s.allowedMean = float64(sumAllowed) / float64(nAllowed)
	return s
}

func TestDockerProgramFigures(t *testing.T) {
	prog, _, err := CompileProfile(loadDocker(t), dockerTarget)
	if err != nil {
		t.Fatal(err)
	}
	s := x86_64Stats(prog)
	t.Logf("program %d instructions; executed per x86_64 syscall: allowed mean %.2f max %d, all mean %.2f max %d",
		len(prog.Instructions()), s.allowedMean, s.allowedMax, s.allMean, s.allMax)
	for _, abi := range []syscalls.Arch{syscalls.I386, syscalls.X32} {
		arch, sum, most := uint32(unix.AUDIT_ARCH_X86_64), 0, 0
		if abi == syscalls.I386 {
			arch = unix.AUDIT_ARCH_I386
		}
		for _, e := range syscalls.Table(abi) {
			_, n := cbpf.Exec(prog.Instructions(), &cbpf.SeccompData{Nr: int32(e.Nr), Arch: arch})
			sum, most = sum+n, max(most, n)
		}
		t.Logf("%v: mean %.2f max %d executed", abi, float64(sum)/float64(len(syscalls.Table(abi))), most)
	}
	// The targets: beat libseccomp's 1,301 instructions, at most 12
	// executed on average and 30 at most. These are deterministic counts.
	if len(prog.Instructions()) >= 1301 || s.allMean > 12 || s.allMax > 30 {
		t.Errorf("figures above target")
	}
}

func BenchmarkCompileDocker(b *testing.B) {
	runtime.LockOSThread() // for the thread CPU clock
	defer runtime.UnlockOSThread()
	p := loadDocker(b)
	r, _, err := Resolve(p, dockerTarget)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := threadCPU()
	n := 0
	for b.Loop() {
		if _, err := Compile(r); err != nil {
			b.Fatal(err)
		}
		n++
	}
	// CPU time of this thread: on a shared, loaded machine wall time per op
	// mostly measures waiting for a CPU.
	b.ReportMetric(float64(threadCPU()-cpu0)/float64(n), "cpu-ns/op")
}

func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

func BenchmarkResolveAndCompileDocker(b *testing.B) {
	p := loadDocker(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := CompileProfile(p, dockerTarget); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDockerExecuted(b *testing.B) {
	prog, _, err := CompileProfile(loadDocker(b), dockerTarget)
	if err != nil {
		b.Fatal(err)
	}
	var s execStats
	for b.Loop() {
		s = x86_64Stats(prog)
	}
	b.ReportMetric(float64(len(prog.Instructions())), "insns")
	b.ReportMetric(s.allowedMean, "exec-allowed-mean")
	b.ReportMetric(float64(s.allowedMax), "exec-allowed-max")
	b.ReportMetric(s.allMean, "exec-all-mean")
	b.ReportMetric(float64(s.allMax), "exec-all-max")
}
