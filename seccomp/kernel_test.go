package seccomp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/rawsys"
	"github.com/confinelab/confine/internal/syscalls"
	"github.com/confinelab/confine/internal/testutil"
	"golang.org/x/sys/unix"
)

// kprobe is a syscall the filtered child attempts. Every one is harmless
// when the kernel runs it (bad pointers, no-op flags). okErrnos are the
// results the kernel itself gives when the filter allows the call; they
// never include the errno the filter returns when it denies it, so a wrong
// decision shows.
type kprobe struct {
	name     string
	arch     uint32
	nr       uint32
	args     [6]uint64
	okErrnos []unix.Errno
}

var kprobes = []kprobe{
	{"getpid", unix.AUDIT_ARCH_X86_64, unix.SYS_GETPID, [6]uint64{}, []unix.Errno{0}},
	{"mount(NULL)", unix.AUDIT_ARCH_X86_64, unix.SYS_MOUNT, [6]uint64{}, []unix.Errno{unix.EFAULT}},
	{"socket(AF_UNIX)", unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, []unix.Errno{0}},
	{"socket(AF_VSOCK)", unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, []unix.Errno{0, unix.EAFNOSUPPORT}},
	{"socket(1<<32|AF_UNIX)", unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{1<<32 | unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, []unix.Errno{0}},
	{"personality(query)", unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY, [6]uint64{0xffffffff}, []unix.Errno{0}},
	{"clone3(NULL)", unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE3, [6]uint64{}, []unix.Errno{unix.EINVAL, unix.EFAULT}},
	{"unshare(0)", unix.AUDIT_ARCH_X86_64, unix.SYS_UNSHARE, [6]uint64{}, []unix.Errno{0}},
	{"syscall 480", unix.AUDIT_ARCH_X86_64, 480, [6]uint64{}, []unix.Errno{unix.ENOSYS}},
	{"i386 getpid", unix.AUDIT_ARCH_I386, 20, [6]uint64{}, []unix.Errno{0}},
	{"i386 mount(NULL)", unix.AUDIT_ARCH_I386, 21, [6]uint64{}, []unix.Errno{unix.EFAULT}},
	{"i386 socket(1<<32|AF_UNIX)", unix.AUDIT_ARCH_I386, 359, [6]uint64{1<<32 | unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, []unix.Errno{0}},
	{"i386 socket(AF_VSOCK)", unix.AUDIT_ARCH_I386, 359, [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, []unix.Errno{0, unix.EAFNOSUPPORT}},
	{"i386 unshare(0)", unix.AUDIT_ARCH_I386, 310, [6]uint64{}, []unix.Errno{0}},
	{"i386 syscall 480", unix.AUDIT_ARCH_I386, 480, [6]uint64{}, []unix.Errno{unix.ENOSYS}},
	// x32 may be compiled out or disabled: the kernel then says ENOSYS,
	// but seccomp runs first, so a denying filter still answers.
	{"x32 getpid", unix.AUDIT_ARCH_X86_64, syscalls.X32Bit | 39, [6]uint64{}, []unix.Errno{0, unix.ENOSYS}},
	{"x32 mount(NULL)", unix.AUDIT_ARCH_X86_64, syscalls.X32Bit | 165, [6]uint64{}, []unix.Errno{unix.EFAULT, unix.ENOSYS}},
	{"x32 unshare(0)", unix.AUDIT_ARCH_X86_64, syscalls.X32Bit | 272, [6]uint64{}, []unix.Errno{0, unix.ENOSYS}},
}

func (p kprobe) do() unix.Errno {
	if p.arch == unix.AUDIT_ARCH_I386 {
		r := rawsys.Int80(uintptr(p.nr), uintptr(p.args[0]), uintptr(p.args[1]), uintptr(p.args[2]))
		if r < 0 && r > -4096 {
			return unix.Errno(-r)
		}
		if p.nr == 359 {
			unix.Close(int(r))
		}
		return 0
	}
	r, _, errno := unix.RawSyscall6(uintptr(p.nr), uintptr(p.args[0]), uintptr(p.args[1]), uintptr(p.args[2]),
		uintptr(p.args[3]), uintptr(p.args[4]), uintptr(p.args[5]))
	if errno == 0 && p.nr == unix.SYS_SOCKET {
		unix.Close(int(r))
	}
	return errno
}

// abiSet says which ABIs a kernel test issues calls through: the i386
// gate (int $0x80) faults on some hosts, so it is tested apart.
type abiSet string

const (
	abisNative abiSet = "native" // x86_64 and x32 (the syscall instruction)
	abisI386   abiSet = "i386"   // i386 through int $0x80
)

func (s abiSet) has(arch uint32) bool { return (arch == unix.AUDIT_ARCH_I386) == (s == abisI386) }

// helperProbe loads Docker's default profile on every thread and prints
// the errno of each kprobe of the ABIs in args[1].
func helperProbe(args []string) int {
	if _, err := loadDockerFile(args[0]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for i, p := range kprobes {
		if abiSet(args[1]).has(p.arch) {
			fmt.Printf("%d %d\n", i, int(p.do()))
		}
	}
	return 0
}

// loadDockerFile, run in a helper child, compiles the profile at path for
// dockerTarget and loads it on every thread of the process.
func loadDockerFile(path string) (*Program, error) {
	prog, _, err := CompileProfile(mustParseFile(path), dockerTarget)
	if err == nil {
		_, err = Load(prog, LoadOptions{Flags: FlagTSYNC})
	}
	return prog, err
}

// runDockerChild compiles Docker's profile in the test process (for the
// simulator) and runs helper, which loads the same profile from
// dockerProfilePath, returning the compiled program and the child's
// stdout.
func runDockerChild(t *testing.T, helper string, abis abiSet) (*Program, []byte) {
	t.Helper()
	prog, _, err := CompileProfile(loadDocker(t), dockerTarget)
	if err != nil {
		t.Fatal(err)
	}
	out, err := testutil.HelperCommand(t, helper, dockerProfilePath, string(abis)).Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return prog, out
}

func mustParseFile(path string) *Profile {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	p, err := Parse(data)
	if err != nil {
		panic(err)
	}
	return p
}

// TestKernelAgreesWithSimulator loads Docker's profile in a child and
// checks the kernel's answer to each x86_64 and x32 probe against the
// simulator; the i386 probes run in the I386 variants below.
func TestKernelAgreesWithSimulator(t *testing.T) { kernelAgreesWithSimulator(t, abisNative) }

// TestKernelAgreesWithSimulatorI386 runs the i386 probes on hosts whose
// CPU runs int $0x80 from a 64-bit process.
func TestKernelAgreesWithSimulatorI386(t *testing.T) {
	testutil.RequireInt80(t, "TestVMKernelAgreesWithSimulatorI386")
	kernelAgreesWithSimulator(t, abisI386)
}

// TestVMKernelAgreesWithSimulatorI386 runs the i386 probes in the VM tier,
// where the emulated CPU always runs int $0x80: the claim is tested on
// every machine, whatever its host.
func TestVMKernelAgreesWithSimulatorI386(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireInt80(t, "nothing: this is the VM tier")
	kernelAgreesWithSimulator(t, abisI386)
}

func kernelAgreesWithSimulator(t *testing.T, abis abiSet) {
	prog, out := runDockerChild(t, "seccomp-probe", abis)
	got := map[int]unix.Errno{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var i, e int
		if _, err := fmt.Sscan(sc.Text(), &i, &e); err != nil {
			t.Fatalf("child output %q", sc.Text())
		}
		got[i] = unix.Errno(e)
	}
	want := 0
	for _, p := range kprobes {
		if abis.has(p.arch) {
			want++
		}
	}
	if len(got) != want {
		t.Fatalf("child reported %d of %d probes", len(got), want)
	}
	for i, p := range kprobes {
		if !abis.has(p.arch) {
			continue
		}
		d := cbpf.SeccompData{Nr: int32(p.nr), Arch: p.arch, Args: p.args}
		ret, _, err := cbpf.Run(prog.Instructions(), &d)
		if err != nil {
			t.Fatal(err)
		}
		act := ActionFromRet(ret)
		switch act.Kind {
		case Errno:
			if got[i] != unix.Errno(act.Data) {
				t.Errorf("%s: kernel gave %v, simulator says %v", p.name, got[i], act)
			}
		case Allow:
			if !slices.Contains(p.okErrnos, got[i]) {
				t.Errorf("%s: kernel gave %v (%d), simulator says allow (kernel result one of %v)", p.name, got[i], int(got[i]), p.okErrnos)
			}
		default:
			t.Errorf("%s: unexpected simulated action %v", p.name, act)
		}
		t.Logf("%-22s simulator %-10v kernel %d", p.name, act, int(got[i]))
	}
}

// helperKill loads a filter that kills the process on getppid.
func helperKill(args []string) int {
	p := &Profile{DefaultAction: NameActAllow, Syscalls: []Syscall{{Names: []string{"getppid"}, Action: NameActKillProcess}}}
	prog, _, err := CompileProfile(p, Target{Kernel: "6.1"})
	if err == nil {
		_, err = Load(prog, LoadOptions{Flags: FlagTSYNC})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	unix.Getppid()
	return 0
}

func TestKernelKillsProcess(t *testing.T) {
	cmd := testutil.HelperCommand(t, "seccomp-kill")
	err := cmd.Run()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child: %v (%v), want killed by SIGSYS", err, cmd.ProcessState)
	}
}

// helperTSYNC starts locked threads, loads a filter (uname -> EADDRNOTAVAIL)
// from the main thread with or without TSYNC, then has every thread call
// uname and prints the errnos.
func helperTSYNC(args []string) int {
	runtime.LockOSThread()
	const threads = 8
	ready, start := make(chan struct{}), make(chan struct{})
	res := make(chan unix.Errno, threads)
	for range threads {
		go func() {
			runtime.LockOSThread() // keep this thread, created before the filter
			ready <- struct{}{}
			<-start
			var u unix.Utsname
			_, _, e := unix.RawSyscall(unix.SYS_UNAME, uintptr(unsafePointer(&u)), 0, 0)
			res <- e
		}()
	}
	for range threads {
		<-ready
	}
	p := &Profile{DefaultAction: NameActAllow, Syscalls: []Syscall{{Names: []string{"uname"}, Action: NameActErrno, ErrnoRet: ptr(uint(unix.EADDRNOTAVAIL))}}}
	prog, _, err := CompileProfile(p, Target{Kernel: "6.1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	var flags Flags
	if args[0] == "tsync" {
		flags = FlagTSYNC
	}
	if _, err := Load(prog, LoadOptions{Flags: flags}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	var u unix.Utsname
	_, _, e := unix.RawSyscall(unix.SYS_UNAME, uintptr(unsafePointer(&u)), 0, 0)
	fmt.Println("main", int(e))
	close(start)
	for range threads {
		fmt.Println("thread", int(<-res))
	}
	return 0
}

func TestTSYNCFiltersEveryThread(t *testing.T) {
	for _, mode := range []string{"tsync", "nosync"} {
		out, err := testutil.HelperCommand(t, "seccomp-tsync", mode).Output()
		if err != nil {
			t.Fatalf("%s child: %v", mode, err)
		}
		lines := strings.Fields(string(out))
		var filtered, free int
		for i := 0; i+1 < len(lines); i += 2 {
			e, _ := strconv.Atoi(lines[i+1])
			switch {
			case lines[i] == "main" && e != int(unix.EADDRNOTAVAIL):
				t.Errorf("%s: main thread not filtered: %d", mode, e)
			case lines[i] == "thread" && e == int(unix.EADDRNOTAVAIL):
				filtered++
			case lines[i] == "thread" && e == 0:
				free++
			}
		}
		// Without TSYNC the other threads stay unfiltered: the control that
		// shows the TSYNC run is not filtered by accident.
		if mode == "tsync" && filtered != 8 || mode == "nosync" && free != 8 {
			t.Errorf("%s: %d threads filtered, %d free; output %q", mode, filtered, free, out)
		}
	}
}
