package seccomp

import (
	"errors"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// decide runs a (compiled from p) on one call and checks that Evaluate
// agrees with the simulated filter; it returns the filter's decision.
func decide(t *testing.T, p *Profile, abi syscalls.Arch, nr uint32, args [6]uint64) Action {
	t.Helper()
	r, _, err := Resolve(p, Target{Kernel: "6.1"})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	arch := uint32(unix.AUDIT_ARCH_X86_64)
	if abi == syscalls.I386 {
		arch = unix.AUDIT_ARCH_I386
	}
	ret, _, err := cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Nr: int32(nr), Arch: arch, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	got := ActionFromRet(ret)
	if ev := r.Evaluate(arch, nr, args); ev != got {
		t.Errorf("%v nr %d args %#x: filter %v, Evaluate %v", abi, nr, args, got, ev)
	}
	return got
}

func nrOf(t *testing.T, abi syscalls.Arch, name string) uint32 {
	t.Helper()
	nr, ok := syscalls.Lookup(abi, name)
	if !ok {
		t.Fatalf("%v has no %s", abi, name)
	}
	return nr
}

var allABIs = []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}

// TestMaskedEQMasksDatum: libseccomp compares (arg & mask) == (datum &
// mask). A deny rule whose datum has bits outside its mask must deny
// (it used to never match: a fail-open).
func TestMaskedEQMasksDatum(t *testing.T) {
	eacces := uint(unix.EACCES)
	p := &Profile{DefaultAction: NameActAllow, Architectures: allABIs, Syscalls: []Syscall{{
		Names: []string{"ioctl"}, Action: NameActErrno, ErrnoRet: &eacces,
		Args: []Arg{{Index: 1, Op: OpMaskedEQ, Value: 0xff, ValueTwo: 0xf00_0000_01ff}},
	}}}
	deny := ActErrno(unix.EACCES)
	for _, c := range []struct {
		arg  uint64
		want Action
	}{
		{0xff, deny}, {0x1ff, deny}, {0xffff_0000_00ff, deny}, {0xfe, ActAllow}, {0, ActAllow},
	} {
		for _, abi := range []syscalls.Arch{syscalls.X86_64, syscalls.I386, syscalls.X32} {
			if got := decide(t, p, abi, nrOf(t, abi, "ioctl"), [6]uint64{0, c.arg}); got != c.want {
				t.Errorf("%v ioctl(_, %#x): %v, want %v", abi, c.arg, got, c.want)
			}
		}
	}
	// A mask with high bits: the high word is compared under the mask too.
	p.Syscalls[0].Args[0] = Arg{Index: 1, Op: OpMaskedEQ, Value: 0xff_0000_0000, ValueTwo: 0x1_ffff_ffff_ffff}
	for arg, want := range map[uint64]Action{0xff_0000_0000: deny, 0xfe_0000_0000: ActAllow, 0xff_1234_5678: deny} {
		if got := decide(t, p, syscalls.X86_64, unix.SYS_IOCTL, [6]uint64{0, arg}); got != want {
			t.Errorf("x86_64 ioctl(_, %#x): %v, want %v", arg, got, want)
		}
	}
	// On the 32-bit ABIs the high mask word is dropped: the condition is
	// (low32(arg) & 0) == 0, always true.
	if got := decide(t, p, syscalls.I386, 54, [6]uint64{0, 0x12}); got != deny {
		t.Errorf("i386 ioctl with a high-word mask: %v, want %v", got, deny)
	}
}

// TestThirtyTwoBitABIsTruncateValues: on i386 and x32 libseccomp compares
// the low 32 bits of argument and value with every operator.
func TestThirtyTwoBitABIsTruncateValues(t *testing.T) {
	for _, c := range []struct {
		op       string
		val, arg uint64
		want     bool
	}{
		{OpEQ, 0xffffffff_ffffffff, 0xffffffff, true},
		{OpEQ, 0x1_0000_0005, 5, true},
		{OpGE, 0x1_0000_0000, 5, true},
		{OpGT, 0x1_0000_0000, 1, true},
		{OpGT, 0x1_0000_0000, 0, false},
		{OpLT, 0x1_0000_0000, 5, false},
		{OpLE, 0x5_0000_0004, 5, false},
		{OpNE, 0x1_0000_0005, 5, false},
		{OpEQ, 7, 0x1_0000_0007, true}, // high argument word ignored too
		{OpLT, 0xffffffff, 0x5_ffff_fffe, true},
	} {
		p := &Profile{DefaultAction: NameActKillProcess, Architectures: allABIs, Syscalls: []Syscall{{
			Names: []string{"getppid"}, Action: NameActAllow, Args: []Arg{{Index: 0, Op: c.op, Value: c.val}},
		}}}
		want := ActKillProcess
		if c.want {
			want = ActAllow
		}
		for _, abi := range []syscalls.Arch{syscalls.I386, syscalls.X32} {
			if got := decide(t, p, abi, nrOf(t, abi, "getppid"), [6]uint64{c.arg}); got != want {
				t.Errorf("%v getppid(%#x) with %s %#x: %v, want %v", abi, c.arg, c.op, c.val, got, want)
			}
		}
		// x86_64 compares all 64 bits.
		if got, want64 := decide(t, p, syscalls.X86_64, unix.SYS_GETPPID, [6]uint64{c.arg}), (Cond{Op: opNames[c.op], Value: c.val}).Match(c.arg); (got == ActAllow) != want64 {
			t.Errorf("x86_64 getppid(%#x) with %s %#x: %v", c.arg, c.op, c.val, got)
		}
	}
}

// TestI386MultiplexedCalls: a rule on a socket or IPC call applies to its
// socketcall/ipc form on i386, argument 0 replaced by the call number and
// the other conditions kept.
func TestI386MultiplexedCalls(t *testing.T) {
	p := &Profile{DefaultAction: NameActErrno, Architectures: allABIs, Syscalls: []Syscall{
		{Names: []string{"socket"}, Action: NameActAllow, Args: []Arg{{Index: 0, Op: OpNE, Value: unix.AF_VSOCK}}},
		{Names: []string{"accept", "semop", "shmctl"}, Action: NameActAllow},
		{Names: []string{"setsockopt"}, Action: NameActLog, Args: []Arg{{Index: 1, Op: OpEQ, Value: 1}}},
	}}
	deny := ActErrno(unix.EPERM)
	for _, c := range []struct {
		nr   uint32
		args [6]uint64
		want Action
	}{
		{nrSocketcall386, [6]uint64{1}, ActAllow},                // SYS_SOCKET: the family test is gone
		{nrSocketcall386, [6]uint64{1, unix.AF_VSOCK}, ActAllow}, // arg 1 is the args pointer
		{nrSocketcall386, [6]uint64{3}, deny},                    // SYS_CONNECT: no rule
		{nrSocketcall386, [6]uint64{5}, ActAllow},                // SYS_ACCEPT: no direct i386 syscall
		{nrSocketcall386, [6]uint64{14, 1}, Action{Kind: Log}},   // SYS_SETSOCKOPT, arg 1 kept
		{nrSocketcall386, [6]uint64{14, 2}, deny},                // ... and compared
		{nrSocketcall386, [6]uint64{0x1_0000_0001}, ActAllow},    // 32-bit compare
		{nrIPC386, [6]uint64{1}, ActAllow},                       // SEMOP
		{nrIPC386, [6]uint64{24}, ActAllow},                      // SHMCTL
		{nrIPC386, [6]uint64{2}, deny},                           // SEMGET
		{359, [6]uint64{unix.AF_UNIX}, ActAllow},                 // direct socket keeps its test
		{359, [6]uint64{unix.AF_VSOCK}, deny},                    // ...
		{396, [6]uint64{}, ActAllow},                             // direct shmctl
		{366, [6]uint64{0, 1}, Action{Kind: Log}},                // direct setsockopt
	} {
		if got := decide(t, p, syscalls.I386, c.nr, c.args); got != c.want {
			t.Errorf("i386 nr %d args %#x: %v, want %v", c.nr, c.args[:2], got, c.want)
		}
	}
	// Neither x86_64 nor x32 has multiplexers: their rules stay direct.
	if got := decide(t, p, syscalls.X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_VSOCK}); got != deny {
		t.Errorf("x86_64 socket(AF_VSOCK): %v", got)
	}
	// Without i386, accept on i386 is killed as a foreign ABI, and a name
	// only the multiplexer knows (send) warns.
	p.Architectures = nil
	p.Syscalls = append(p.Syscalls, Syscall{Names: []string{"send"}, Action: NameActAllow})
	if _, warns, err := Resolve(p, Target{Kernel: "6.1"}); err != nil || len(warns) != 1 || warns[0].Name != "send" {
		t.Errorf("send without i386: %v %v", warns, err)
	}
	p.Architectures = allABIs
	if _, warns, err := Resolve(p, Target{Kernel: "6.1"}); err != nil || len(warns) != 0 {
		t.Errorf("send with i386: %v %v", warns, err)
	}
}

// TestRuncRuleSemantics: what runc and libseccomp make of several rules.
func TestRuncRuleSemantics(t *testing.T) {
	eacces, enoent := uint(unix.EACCES), uint(unix.ENOENT)
	// A group with the default action is dropped, so it shadows nothing.
	p := &Profile{DefaultAction: NameActErrno, Syscalls: []Syscall{
		{Names: []string{"ioctl"}, Action: NameActErrno, Args: []Arg{{Index: 1, Op: OpEQ, Value: 5}}},
		{Names: []string{"ioctl"}, Action: NameActAllow, Args: []Arg{{Index: 0, Op: OpLT, Value: 10}}},
	}}
	if got := decide(t, p, syscalls.X86_64, unix.SYS_IOCTL, [6]uint64{1, 5}); got != ActAllow {
		t.Errorf("default-action group shadows: %v", got)
	}
	// Two conditions on one argument: either suffices (runc splits them).
	p = &Profile{DefaultAction: NameActAllow, Syscalls: []Syscall{
		{Names: []string{"ioctl"}, Action: NameActErrno, ErrnoRet: &eacces, Args: []Arg{
			{Index: 1, Op: OpEQ, Value: 5}, {Index: 1, Op: OpEQ, Value: 7}, {Index: 0, Op: OpEQ, Value: 1}}},
	}}
	for arg, want := range map[[2]uint64]Action{{1, 5}: ActErrno(unix.EACCES), {2, 7}: ActErrno(unix.EACCES), {1, 6}: ActErrno(unix.EACCES), {2, 6}: ActAllow} {
		if got := decide(t, p, syscalls.X86_64, unix.SYS_IOCTL, [6]uint64{arg[0], arg[1]}); got != want {
			t.Errorf("split group ioctl%v: %v, want %v", arg, got, want)
		}
	}
	// An unconditional rule overrides conditional ones before it; the first
	// unconditional rule wins over later ones.
	p = &Profile{DefaultAction: NameActAllow, Syscalls: []Syscall{
		{Names: []string{"ioctl"}, Action: NameActErrno, ErrnoRet: &eacces, Args: []Arg{{Index: 1, Op: OpEQ, Value: 5}}},
		{Names: []string{"ioctl"}, Action: NameActErrno, ErrnoRet: &enoent},
		{Names: []string{"ioctl"}, Action: NameActLog},
	}}
	if got := decide(t, p, syscalls.X86_64, unix.SYS_IOCTL, [6]uint64{0, 5}); got != ActErrno(unix.ENOENT) {
		t.Errorf("unconditional after conditional: %v", got)
	}
}

// TestCompileTooLarge: a profile beyond the kernel's instruction limit
// gives a TooLargeError naming both lengths, not a program the kernel
// would refuse with EINVAL.
func TestCompileTooLarge(t *testing.T) {
	p := &Profile{DefaultAction: NameActErrno}
	for v := uint64(0); v < 3000; v++ {
		p.Syscalls = append(p.Syscalls, Syscall{Names: []string{"ioctl"}, Action: NameActAllow,
			Args: []Arg{{Index: 1, Op: OpEQ, Value: v * 7}, {Index: 2, Op: OpEQ, Value: v}}})
	}
	_, _, err := CompileProfile(p, Target{Kernel: "6.1"})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != 4096 || tl.Instructions <= 4096 {
		t.Fatalf("got %v, want a TooLargeError", err)
	}
}

// TestCompileFitsDocumentedScale backs the package documentation: 2,900
// values for one argument of one syscall fit in a filter, 1,650 when
// i386 and x32 are accepted too.
func TestCompileFitsDocumentedScale(t *testing.T) {
	for n, arches := range map[int][]string{2900: nil, 1650: allABIs} {
		p := &Profile{DefaultAction: NameActErrno, Architectures: arches}
		for v := range n {
			p.Syscalls = append(p.Syscalls, Syscall{Names: []string{"ioctl"}, Action: NameActAllow,
				Args: []Arg{{Index: 1, Op: OpEQ, Value: uint64(0x5400 + 7*v)}}})
		}
		prog, _, err := CompileProfile(p, Target{Kernel: "6.1"})
		if err != nil {
			t.Fatalf("%d values, arches %v: %v", n, arches, err)
		}
		t.Logf("%d values, arches %v: %d instructions", n, arches, len(prog.Instructions()))
	}
}
