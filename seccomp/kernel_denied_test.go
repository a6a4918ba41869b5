package seccomp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/rawsys"
	"github.com/confinelab/confine/internal/syscalls"
	"github.com/confinelab/confine/internal/testutil"
	"golang.org/x/sys/unix"
)

func init() { testutil.RegisterHelper("seccomp-denied", helperDenied) }

// unsafeIfRun are syscalls not issued even when the simulator says the
// filter refuses them: should the filter wrongly let one through, running
// it with zero arguments could change the host (hostname, accounting,
// swap, clock, tty) or kill the child with a signal.
var unsafeIfRun = []string{"vhangup", "sethostname", "setdomainname", "acct", "reboot", "kexec_load",
	"kexec_file_load", "swapon", "swapoff", "syslog", "settimeofday", "clock_settime", "clock_settime64",
	"stime", "adjtimex", "clock_adjtime", "clock_adjtime64", "init_module", "finit_module",
	"uretprobe", "uprobe", "vm86", "vm86old", "rt_sigreturn", "sigreturn"}

type deniedCall struct {
	arch uint32
	nr   uint32
	want unix.Errno
}

// deniedCalls lists every syscall of the ABIs in abis (and numbers up to
// 600) that Docker's default profile refuses with an errno, per simulator.
func deniedCalls(prog *Program, abis abiSet) []deniedCall {
	var out []deniedCall
	for _, abi := range []syscalls.Arch{syscalls.X86_64, syscalls.X32, syscalls.I386} {
		arch, base := uint32(unix.AUDIT_ARCH_X86_64), uint32(0)
		if (abi == syscalls.I386) != (abis == abisI386) {
			continue
		}
		switch abi {
		case syscalls.I386:
			arch = unix.AUDIT_ARCH_I386
		case syscalls.X32:
			base = syscalls.X32Bit
		}
		for n := uint32(0); n <= 600; n++ {
			nr := base | n
			if slices.Contains(unsafeIfRun, syscalls.Name(abi, nr)) {
				continue
			}
			ret, _ := cbpf.Exec(prog.Instructions(), &cbpf.SeccompData{Nr: int32(nr), Arch: arch})
			if a := ActionFromRet(ret); a.Kind == Errno {
				out = append(out, deniedCall{arch, nr, unix.Errno(a.Data)})
			}
		}
	}
	return out
}

// helperDenied loads Docker's profile and issues every denied call of the
// ABIs in args[1] with zero arguments, printing what the kernel returned.
func helperDenied(args []string) int {
	prog, err := loadDockerFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	w := bufio.NewWriter(os.Stdout)
	for _, c := range deniedCalls(prog, abiSet(args[1])) {
		var e unix.Errno
		if c.arch == unix.AUDIT_ARCH_I386 {
			if r := rawsys.Int80(uintptr(c.nr), 0, 0, 0); r < 0 && r > -4096 {
				e = unix.Errno(-r)
			}
		} else {
			_, _, e = unix.RawSyscall6(uintptr(c.nr), 0, 0, 0, 0, 0, 0)
		}
		fmt.Fprintf(w, "%#x %#x %d\n", c.arch, c.nr, int(e))
	}
	w.Flush()
	return 0
}

// TestKernelRefusesWhatSimulatorRefuses runs every refused x86_64 and x32
// syscall under the loaded filter: the kernel must return exactly the
// simulated errno (EPERM, or ENOSYS above the newest syscall).
func TestKernelRefusesWhatSimulatorRefuses(t *testing.T) { kernelRefuses(t, abisNative) }

// TestKernelRefusesWhatSimulatorRefusesI386 does the same for i386 where
// the host runs int $0x80.
func TestKernelRefusesWhatSimulatorRefusesI386(t *testing.T) {
	testutil.RequireInt80(t, "TestVMKernelRefusesWhatSimulatorRefusesI386")
	kernelRefuses(t, abisI386)
}

// TestVMKernelRefusesWhatSimulatorRefusesI386 proves the i386 half in the
// VM tier, whose emulated CPU always runs int $0x80.
func TestVMKernelRefusesWhatSimulatorRefusesI386(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireInt80(t, "nothing: this is the VM tier")
	kernelRefuses(t, abisI386)
}

func kernelRefuses(t *testing.T, abis abiSet) {
	prog, out := runDockerChild(t, "seccomp-denied", abis)
	want := deniedCalls(prog, abis)
	sc := bufio.NewScanner(bytes.NewReader(out))
	i := 0
	for ; sc.Scan(); i++ {
		var arch, nr uint32
		var e int
		if _, err := fmt.Sscanf(sc.Text(), "%v %v %d", &arch, &nr, &e); err != nil || i >= len(want) {
			t.Fatalf("child line %d %q: %v", i, sc.Text(), err)
		}
		if w := want[i]; w.arch != arch || w.nr != nr || w.want != unix.Errno(e) {
			t.Errorf("arch %#x nr %#x: kernel %d, simulator errno %d", arch, nr, e, int(w.want))
		}
	}
	if i != len(want) {
		t.Fatalf("child ran %d of %d calls", i, len(want))
	}
	t.Logf("%d refused syscalls checked against the kernel", i)
}
