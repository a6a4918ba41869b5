package seccomp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"github.com/confinelab/confine/internal/testutil"
	"golang.org/x/sys/unix"
)

func init() { testutil.RegisterHelper("seccomp-compat", helperCompat) }

// compatCase is a profile and calls whose kernel results show that the
// loaded filter decides as libseccomp does. Only x86_64 and x32 calls:
// the i386 gate is not usable on every host (see ENVIRONMENT.md).
type compatCase struct {
	profile *Profile
	calls   []compatCall
	x32     x32Mode // how the compiler dispatches x32 calls
}

type compatCall struct {
	nr  uint32 // x86_64 number, x32 with syscalls.X32Bit
	arg uint64
	// want: the filter's errno, or 0 for "allowed" (the kernel then
	// answers 0, or ENOSYS for x32 on kernels without it).
	want unix.Errno
}

const compatErrno = unix.EADDRNOTAVAIL // no kernel answer for getppid

func compatCases() map[string]compatCase {
	e := uint(compatErrno)
	x32 := syscalls.X32Bit | uint32(unix.SYS_GETPPID)
	arches := []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}
	deny := func(a Arg) *Profile {
		return &Profile{DefaultAction: NameActAllow, Architectures: arches, Syscalls: []Syscall{
			{Names: []string{"getppid"}, Action: NameActErrno, ErrnoRet: &e, Args: []Arg{a}}}}
	}
	x32ioctl, _ := syscalls.Lookup(syscalls.X32, "ioctl")
	return map[string]compatCase{
		// x32 calls through the native dispatch: ioctl's x32 number
		// (514) is denied though natively nothing has it, and x32's
		// number 16 (native ioctl, no x32 syscall) is not.
		"x32-shared": {x32: x32Shared, profile: &Profile{DefaultAction: NameActAllow, Architectures: arches, Syscalls: []Syscall{
			{Names: []string{"ioctl", "getppid"}, Action: NameActErrno, ErrnoRet: &e}}}, calls: []compatCall{
			{unix.SYS_IOCTL, 1 << 40, compatErrno}, {x32ioctl, 1 << 40, compatErrno}, {syscalls.X32Bit | unix.SYS_IOCTL, 1 << 40, 0},
			{unix.SYS_GETPPID, 0, compatErrno}, {x32, 0, compatErrno}, {syscalls.X32Bit | unix.SYS_GETPID, 0, 0},
		}},
		// The datum's bits outside the mask do not matter: runc denies.
		"masked": {profile: deny(Arg{Index: 0, Op: OpMaskedEQ, Value: 0xff, ValueTwo: 0x1ff}), calls: []compatCall{
			{unix.SYS_GETPPID, 0xff, compatErrno}, {unix.SYS_GETPPID, 0x7_0000_00ff, compatErrno},
			{unix.SYS_GETPPID, 0xfe, 0}, {x32, 0xff, compatErrno}, {x32, 0xfe, 0},
		}},
		// x32 compares low words only; x86_64 all 64 bits.
		"low32": {profile: deny(Arg{Index: 0, Op: OpEQ, Value: 0xffffffff_ffffffff}), calls: []compatCall{
			{x32, 0xffffffff, compatErrno}, {x32, 0x1_ffffffff, compatErrno}, {x32, 5, 0},
			{unix.SYS_GETPPID, 0xffffffff, 0}, {unix.SYS_GETPPID, 0xffffffff_ffffffff, compatErrno},
		}},
		"low32-ge": {profile: deny(Arg{Index: 0, Op: OpGE, Value: 0x1_0000_0000}), calls: []compatCall{
			{x32, 5, compatErrno}, {unix.SYS_GETPPID, 5, 0}, {unix.SYS_GETPPID, 0x1_0000_0000, compatErrno},
		}},
	}
}

func (c compatCase) compile() (*Program, error) {
	r, _, err := Resolve(c.profile, Target{Kernel: "6.1"})
	if err != nil {
		return nil, err
	}
	return compile(r, c.x32)
}

// helperCompat loads the named compat case and prints each call's errno.
func helperCompat(args []string) int {
	c, ok := compatCases()[args[0]]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown case", args[0])
		return 2
	}
	prog, err := c.compile()
	if err == nil {
		_, err = Load(prog, LoadOptions{Flags: FlagTSYNC})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for _, call := range c.calls {
		_, _, e := unix.RawSyscall(uintptr(call.nr), uintptr(call.arg), 0, 0)
		fmt.Println(int(e))
	}
	return 0
}

// TestKernelDecidesAsLibseccomp loads filters whose decisions used to
// differ from runc's (MASKED_EQ datums with bits outside the mask, x32's
// 32-bit comparisons) and checks the kernel's answers and the simulator.
func TestKernelDecidesAsLibseccomp(t *testing.T) {
	testutil.RequireRoot(t)
	for name, c := range compatCases() {
		t.Run(name, func(t *testing.T) {
			out, err := testutil.HelperCommand(t, "seccomp-compat", name).Output()
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			prog, err := c.compile()
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for i, call := range c.calls {
				var got int
				if !sc.Scan() {
					t.Fatalf("child printed %d of %d results", i, len(c.calls))
				}
				fmt.Sscan(sc.Text(), &got)
				ok := []unix.Errno{call.want}
				if call.want == 0 {
					ok = []unix.Errno{0, unix.ENOSYS}
				}
				if !slices.Contains(ok, unix.Errno(got)) {
					t.Errorf("nr %#x arg %#x: kernel %d, want one of %v", call.nr, call.arg, got, ok)
				}
				ret, _ := cbpf.Exec(prog.Instructions(), &cbpf.SeccompData{Nr: int32(call.nr), Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{call.arg}})
				if sim := ActionFromRet(ret); (sim.Kind == Errno) != (call.want != 0) {
					t.Errorf("nr %#x arg %#x: simulator %v", call.nr, call.arg, sim)
				}
			}
		})
	}
}
