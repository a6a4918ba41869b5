package seccomp

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		json  string
		group int
		field string
	}{
		{`{"defaultAction":"SCMP_ACT_NOPE"}`, -1, "defaultAction"},
		{`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":5000}`, -1, "defaultAction"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_BOGUS"]}`, -1, "flags"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}`, -1, "architectures"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_KILLL"}]}`, 1, "action"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]}`, 0, "args[0].op"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}`, 0, "args[0].index"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}`, 0, "names"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read",""],"action":"SCMP_ACT_ERRNO"}]}`, 0, "names"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"six"}}]}`, 0, "includes.minKernel"},
	} {
		_, err := Parse([]byte(c.json))
		var pe *InvalidError
		if !errors.As(err, &pe) || pe.Field != groupField(c.group, c.field) {
			t.Errorf("%s: %v, want group %d field %s", c.json, err, c.group, c.field)
		}
	}
	if _, err := Parse([]byte(`{"defaultAction":`)); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestResolveConflictAndWarnings(t *testing.T) {
	p, err := Parse([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
		{"names":["read","frobnicate"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"}]},
		{"names":["write"],"action":"SCMP_ACT_LOG"},
		{"names":["read"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Resolve(p, Target{Kernel: "6.1"})
	var pe *InvalidError
	if !errors.As(err, &pe) || pe.Field != "syscalls[2].names" || !strings.Contains(err.Error(), "syscalls[0]") {
		t.Fatalf("conflict: %v", err)
	}
	p.Syscalls = p.Syscalls[:2]
	r, warns, err := Resolve(p, Target{Kernel: "6.1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || warns[0].Name != "frobnicate" || warns[0].Group != 0 {
		t.Fatalf("warnings %v", warns)
	}
	if got := r.Evaluate(unix.AUDIT_ARCH_X86_64, unix.SYS_READ, [6]uint64{3}); got != ActErrno(unix.EPERM) {
		t.Errorf("read(3): %v", got)
	}
	if got := r.Evaluate(unix.AUDIT_ARCH_X86_64, unix.SYS_WRITE, [6]uint64{}); got.Kind != Log {
		t.Errorf("write: %v", got)
	}
	if _, _, err := Resolve(p, Target{Arch: "arm64"}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("arm64 target: %v", err)
	}
	if _, _, err := Resolve(p, Target{Kernel: "x.y"}); err == nil {
		t.Error("bad kernel version accepted")
	}
}

func TestFromOCI(t *testing.T) {
	errno := uint(unix.EACCES)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: &errno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"ioctl"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0x5401, Op: specs.OpEqualTo}}},
		},
	}
	p, err := FromOCI(s)
	if err != nil {
		t.Fatal(err)
	}
	if p.ProfileFlags() != FlagLog {
		t.Errorf("flags %v", p.ProfileFlags())
	}
	r, _, err := Resolve(p, Target{Kernel: "6.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arch, nr uint32
		args     [6]uint64
		want     Action
	}{
		{unix.AUDIT_ARCH_X86_64, unix.SYS_READ, [6]uint64{}, ActAllow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_IOCTL, [6]uint64{0, 0x5401}, ActAllow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_IOCTL, [6]uint64{0, 0x5402}, ActErrno(unix.EACCES)},
		{unix.AUDIT_ARCH_I386, 3, [6]uint64{}, ActAllow}, // i386 read
		{unix.AUDIT_ARCH_X86_64, syscalls32Read, [6]uint64{}, ActKillProcess},
	} {
		if got := r.Evaluate(c.arch, c.nr, c.args); got != c.want {
			t.Errorf("%#x/%d: %v, want %v", c.arch, c.nr, got, c.want)
		}
	}
	s.Syscalls[1].Args[0].Op = "SCMP_CMP_SOMETIMES"
	var pe *InvalidError
	if _, err := FromOCI(s); !errors.As(err, &pe) || !strings.HasPrefix(pe.Field, "syscalls[1].") {
		t.Errorf("bad op: %v", err)
	}
}

// syscalls32Read is x32 read: the profile does not list x32, so it is killed.
const syscalls32Read = 0x40000000

func TestResolveMinKernelAndCaps(t *testing.T) {
	for _, c := range []struct {
		tg   Target
		nr   uint32
		want Action
	}{
		{Target{Caps: DefaultCaps, Kernel: "4.4"}, unix.SYS_PTRACE, ActErrno(unix.EPERM)}, // minKernel 4.8
		{Target{Caps: DefaultCaps, Kernel: "4.8"}, unix.SYS_PTRACE, ActAllow},
		{Target{Caps: DefaultCaps}, unix.SYS_PTRACE, ActAllow}, // running kernel
		{Target{Caps: DefaultCaps, Kernel: "6.1"}, unix.SYS_MOUNT, ActErrno(unix.EPERM)},
		{Target{Caps: mustCaps(t, "cap_sys_admin"), Kernel: "6.1"}, unix.SYS_MOUNT, ActAllow},
		{Target{Caps: mustCaps(t, "SYS_ADMIN"), Kernel: "6.1"}, unix.SYS_CLONE3, ActAllow},
		{Target{Kernel: "6.1"}, unix.SYS_CLONE3, ActENOSYS},
		{Target{Kernel: "6.1"}, unix.SYS_CHROOT, ActErrno(unix.EPERM)},
	} {
		r, _, err := Resolve(Default(), c.tg)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Evaluate(unix.AUDIT_ARCH_X86_64, c.nr, [6]uint64{}); got != c.want {
			t.Errorf("%+v nr %d: %v, want %v", c.tg, c.nr, got, c.want)
		}
	}
}

// groupField is the InvalidError.Field of a profile field: top level for
// group -1, else inside syscalls[group].
func groupField(group int, field string) string {
	if group < 0 {
		return field
	}
	return fmt.Sprintf("syscalls[%d].%s", group, field)
}
