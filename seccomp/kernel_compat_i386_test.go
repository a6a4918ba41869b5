package seccomp

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/rawsys"
	"github.com/confinelab/confine/internal/testutil"
)

func init() { testutil.RegisterHelper("seccomp-compat-i386", helperCompatI386) }

// i386 numbers of the calls below.
const (
	i386Getpid     = 20
	i386Getppid    = 64
	i386Socketcall = 102
	sysSocket      = 1 // socketcall's call numbers (linux/net.h)
	sysBind        = 2
)

// i386CompatProfile denies, on x86_64 and i386, what libseccomp (and so
// runc) denies and confine's old compiler let through: socket through the
// multiplexed socketcall, a 64-bit EQ value against a 32-bit argument,
// and a MASKED_EQ datum with bits outside the mask.
func i386CompatProfile() *Profile {
	e := uint(compatErrno)
	deny := func(name string, args ...Arg) Syscall {
		return Syscall{Names: []string{name}, Action: NameActErrno, ErrnoRet: &e, Args: args}
	}
	return &Profile{DefaultAction: NameActAllow, Architectures: []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"},
		Syscalls: []Syscall{
			deny("socket"),
			deny("getppid", Arg{Index: 0, Op: OpEQ, Value: 0xffffffff_ffffffff}),
			deny("getpid", Arg{Index: 0, Op: OpMaskedEQ, Value: 0xff, ValueTwo: 0x1ff}),
		}}
}

type i386Call struct {
	name       string
	nr, a0, a1 uintptr
	denied     bool // want compatErrno; else any result but it
}

var i386CompatCalls = []i386Call{
	{"socketcall(SYS_SOCKET)", i386Socketcall, sysSocket, 0, true},
	{"socketcall(SYS_BIND)", i386Socketcall, sysBind, 0, false}, // EFAULT from the kernel
	{"getppid(0xffffffff)", i386Getppid, 0xffffffff, 0, true},
	{"getppid(5)", i386Getppid, 5, 0, false},
	{"getpid(0xff)", i386Getpid, 0xff, 0, true},
	{"getpid(0xfe)", i386Getpid, 0xfe, 0, false},
}

// helperCompatI386 loads i386CompatProfile and prints each call's result.
func helperCompatI386([]string) int {
	prog, _, err := CompileProfile(i386CompatProfile(), Target{Kernel: "6.1"})
	if err == nil {
		_, err = Load(prog, LoadOptions{Flags: FlagTSYNC})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for _, c := range i386CompatCalls {
		fmt.Println(rawsys.Int80(c.nr, c.a0, c.a1, 0))
	}
	return 0
}

// TestVMI386DecidesAsLibseccomp runs the i386 cases in the VM tier, whose
// emulated CPU always runs int $0x80 (some hosts fault on it): the kernel
// must refuse exactly what libseccomp's filter refuses.
func TestVMI386DecidesAsLibseccomp(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireInt80(t, "nothing: this is the VM tier")
	i386DecidesAsLibseccomp(t)
}

// TestKernelI386DecidesAsLibseccomp runs the same on hosts that run the
// i386 gate.
func TestKernelI386DecidesAsLibseccomp(t *testing.T) {
	testutil.RequireInt80(t, "TestVMI386DecidesAsLibseccomp")
	i386DecidesAsLibseccomp(t)
}

func i386DecidesAsLibseccomp(t *testing.T) {
	out, err := testutil.HelperCommand(t, "seccomp-compat-i386").Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(i386CompatCalls) {
		t.Fatalf("child printed %q, want %d results", out, len(i386CompatCalls))
	}
	for i, c := range i386CompatCalls {
		var r int64
		fmt.Sscan(lines[i], &r)
		if got := r == -int64(compatErrno); got != c.denied {
			t.Errorf("i386 %s = %d: denied %v, want %v", c.name, r, got, c.denied)
		}
		t.Logf("i386 %-24s kernel %d", c.name, r)
	}
}
