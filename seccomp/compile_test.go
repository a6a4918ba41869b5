package seccomp

import (
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

func TestEveryActionCompiles(t *testing.T) {
	e := uint(unix.EACCES)
	groups := []struct {
		name, action string
		want         uint32
	}{
		{"read", NameActAllow, unix.SECCOMP_RET_ALLOW},
		{"write", NameActErrno, unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{"open", NameActKillProcess, unix.SECCOMP_RET_KILL_PROCESS},
		{"close", NameActKillThread, unix.SECCOMP_RET_KILL_THREAD},
		{"stat", NameActKill, unix.SECCOMP_RET_KILL_THREAD},
		{"fstat", NameActTrap, unix.SECCOMP_RET_TRAP},
		{"lstat", NameActTrace, unix.SECCOMP_RET_TRACE | uint32(unix.EACCES)},
		{"poll", NameActLog, unix.SECCOMP_RET_LOG},
		{"lseek", NameActNotify, unix.SECCOMP_RET_USER_NOTIF},
	}
	p := &Profile{DefaultAction: NameActErrno}
	for _, g := range groups {
		p.Syscalls = append(p.Syscalls, Syscall{Names: []string{g.name}, Action: g.action, ErrnoRet: &e})
	}
	prog, _, err := CompileProfile(p, Target{Kernel: "6.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		nr, _ := syscalls.Lookup(syscalls.X86_64, g.name)
		ret, _, err := cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Nr: int32(nr), Arch: unix.AUDIT_ARCH_X86_64})
		if err != nil || ret != g.want {
			t.Errorf("%s: %#x %v, want %#x", g.name, ret, err, g.want)
		}
		if ActionFromRet(g.want).Ret() != g.want {
			t.Errorf("%s: ActionFromRet round trip", g.name)
		}
	}
	// The default is EPERM for syscalls not listed, ENOSYS above the newest.
	for nr, want := range map[uint32]uint32{unix.SYS_MMAP: unix.SECCOMP_RET_ERRNO | 1, 472: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)} {
		if ret, _, _ := cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Nr: int32(nr), Arch: unix.AUDIT_ARCH_X86_64}); ret != want {
			t.Errorf("nr %d: %#x, want %#x", nr, ret, want)
		}
	}
}

// TestArgumentOps checks every operator on both words of a 64-bit argument
// with the simulator, including the single-argument step function path
// and the general path (two conditions).
func TestArgumentOps(t *testing.T) {
	vals := []uint64{0, 1, 5, 0xffffffff, 1 << 32, 1<<32 | 5, 5 << 32, 0xffffffff_ffffffff}
	for _, op := range []string{OpNE, OpLT, OpLE, OpEQ, OpGE, OpGT, OpMaskedEQ} {
		for _, v := range vals {
			for _, general := range []bool{false, true} {
				g := Syscall{Names: []string{"ioctl"}, Action: NameActAllow,
					Args: []Arg{{Index: 2, Op: op, Value: v, ValueTwo: v & 0xffff_0000_0000_ffff}}}
				if general {
					g.Args = append(g.Args, Arg{Index: 0, Op: OpGE, Value: 0})
				}
				p := &Profile{DefaultAction: NameActErrno, Architectures: []string{"SCMP_ARCH_X86"}, Syscalls: []Syscall{g}}
				r, _, err := Resolve(p, Target{Kernel: "6.1"})
				if err != nil {
					t.Fatal(err)
				}
				prog, err := Compile(r)
				if err != nil {
					t.Fatal(err)
				}
				c := Cond{Op: opNames[op], Value: v, ValueTwo: g.Args[0].ValueTwo}
				for _, a := range vals {
					for _, d := range []uint64{0, 1, 4, 6, 1 << 31} {
						arg := a + d
						ret, _, err := cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Nr: unix.SYS_IOCTL, Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{0, 0, arg}})
						if err != nil {
							t.Fatal(err)
						}
						if got := ret == unix.SECCOMP_RET_ALLOW; got != c.Match(arg) {
							t.Fatalf("%s %#x (general %v) on %#x: filter %v", op, v, general, arg, got)
						}
						// i386 (ioctl is 54): the upper halves of argument
						// and value are ignored.
						ret, _, _ = cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Nr: 54, Arch: unix.AUDIT_ARCH_I386, Args: [6]uint64{0, 0, arg}})
						if got := ret == unix.SECCOMP_RET_ALLOW; got != c.Match32(arg) {
							t.Fatalf("i386 %s %#x (general %v) on %#x: filter %v", op, v, general, arg, got)
						}
					}
				}
			}
		}
	}
}

func TestUnknownArchKilled(t *testing.T) {
	prog, _, err := CompileProfile(&Profile{DefaultAction: NameActAllow}, Target{Kernel: "6.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []uint32{unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_I386, 0, 0xffffffff} {
		ret, n, _ := cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Arch: arch})
		if ret != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("arch %#x: %#x after %d", arch, ret, n)
		}
	}
	// x32 numbers are killed when the profile does not accept x32.
	if ret, _, _ := cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: syscalls.X32Bit}); ret != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("x32 read: %#x", ret)
	}
}

func TestCompileRejectsBadResolved(t *testing.T) {
	if _, err := Compile(nil); err == nil {
		t.Error("nil accepted")
	}
	bad := &Resolved{Default: ActAllow, Arches: []syscalls.Arch{syscalls.X86_64},
		Rules: map[syscalls.Arch][]Rule{syscalls.X86_64: {{Nr: 1, Action: ActKillProcess, Conds: []Cond{{Index: 6, Op: EQ}}}}}}
	if _, err := Compile(bad); err == nil {
		t.Error("argument 6 accepted")
	}
	// Unsorted hand-made rules are sorted, not misdispatched.
	r := &Resolved{Default: ActAllow, Arches: []syscalls.Arch{syscalls.X86_64},
		Rules: map[syscalls.Arch][]Rule{syscalls.X86_64: {{Nr: 300, Action: ActKillProcess}, {Nr: 2, Action: ActENOSYS}}}}
	prog, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	for nr, want := range map[uint32]Action{2: ActENOSYS, 300: ActKillProcess, 5: ActAllow} {
		ret, _, _ := cbpf.Run(prog.Instructions(), &cbpf.SeccompData{Nr: int32(nr), Arch: unix.AUDIT_ARCH_X86_64})
		if got := ActionFromRet(ret); got != want {
			t.Errorf("nr %d: %v, want %v", nr, got, want)
		}
	}
}
