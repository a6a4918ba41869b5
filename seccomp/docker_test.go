package seccomp

import (
	"os"
	"slices"
	"testing"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

const dockerProfilePath = "testdata/docker-default-v0.3.0.json"

func loadDocker(t testing.TB) *Profile {
	t.Helper()
	data, err := os.ReadFile(dockerProfilePath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var dockerTarget = Target{Caps: DefaultCaps, Kernel: "6.18"}

// dockerSays evaluates the raw profile the way Docker/runc apply it,
// independently of Resolve and Compile: groups filtered by native arch
// (amd64), caps and minKernel; a syscall gets the action of a matching
// group (the test fails if two matching groups disagree), else the default;
// numbers above the newest known syscall get ENOSYS, as runc does.
func dockerSays(t testing.TB, p *Profile, abi syscalls.Arch, nr uint32, args [6]uint64) Action {
	kv, _ := internal.ParseVersion("6.18")
	has := func(c string) bool { return holds(DefaultCaps, c) }
	name := syscalls.Name(abi, nr)
	low := func(v uint64) uint64 { return v }
	if abi == syscalls.I386 || abi == syscalls.X32 { // libseccomp's 32-bit ABIs: low words only
		low = func(v uint64) uint64 { return uint64(uint32(v)) }
	}
	var found []Action
	for _, g := range p.Syscalls {
		if !slices.Contains(g.Names, name) || name == "" {
			continue
		}
		if ex := g.Excludes; ex != nil {
			if slices.Contains(ex.Arches, "amd64") || slices.ContainsFunc(ex.Caps, has) {
				continue
			}
			if v, err := internal.ParseVersion(ex.MinKernel); err == nil && !kv.Less(v) {
				continue
			}
		}
		if in := g.Includes; in != nil {
			if len(in.Arches) > 0 && !slices.Contains(in.Arches, "amd64") {
				continue
			}
			if !allOf(in.Caps, has) {
				continue
			}
			if v, err := internal.ParseVersion(in.MinKernel); err == nil && kv.Less(v) {
				continue
			}
		}
		match := true
		for _, a := range g.Args {
			v, val, two := low(args[a.Index]), low(a.Value), low(a.ValueTwo)
			switch a.Op {
			case OpEQ:
				match = match && v == val
			case OpLT:
				match = match && v < val
			case OpMaskedEQ:
				match = match && v&val == two&val
			default:
				t.Fatalf("op %s not expected in Docker's profile", a.Op)
			}
		}
		if match {
			act, _ := parseAction(g.Action, g.ErrnoRet)
			found = append(found, act)
		}
	}
	if len(found) > 0 {
		for _, a := range found {
			if a != found[0] {
				t.Fatalf("%v %s: profile is ambiguous: %v", abi, name, found)
			}
		}
		return found[0]
	}
	if name == "" && nr > syscalls.Newest(abi) {
		return ActENOSYS
	}
	return ActErrno(unix.EPERM)
}

func allOf(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

// argVectors returns argument sets that exercise Docker's argument rules
// (socket families, personality values, clone flags) and the high words.
func argVectors() [][6]uint64 {
	vals := []uint64{0, 1, 2, 3, 8, 16, 17, 38, 45, 46, 0x20000, 0x20008, 0xffffffff,
		0x1_0000_0000, 0x1_0000_0010, 0xffffffff_ffffffff, unix.CLONE_NEWNS, unix.CLONE_NEWUSER,
		unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND, 0x7E020000, unix.CLONE_NEWNET | unix.CLONE_FS}
	out := [][6]uint64{{}}
	for _, v := range vals {
		out = append(out, [6]uint64{v}, [6]uint64{0, v}, [6]uint64{v, v, v, v, v, v})
	}
	for d := uint64(0); d < 50; d++ {
		out = append(out, [6]uint64{d})
	}
	return out
}

type probe struct {
	abi  syscalls.Arch
	arch uint32
	nr   uint32
}

func dockerProbes() []probe {
	var ps []probe
	for nr := uint32(0); nr <= 600; nr++ {
		ps = append(ps, probe{syscalls.X86_64, unix.AUDIT_ARCH_X86_64, nr})
		ps = append(ps, probe{syscalls.X32, unix.AUDIT_ARCH_X86_64, syscalls.X32Bit | nr})
		ps = append(ps, probe{syscalls.I386, unix.AUDIT_ARCH_I386, nr})
	}
	for _, nr := range []uint32{0xffffffff, 0x3fffffff, 0x7fffffff, 0x80000000} {
		ps = append(ps, probe{syscalls.X86_64, unix.AUDIT_ARCH_X86_64, nr &^ syscalls.X32Bit})
		ps = append(ps, probe{syscalls.X32, unix.AUDIT_ARCH_X86_64, nr | syscalls.X32Bit})
		ps = append(ps, probe{syscalls.I386, unix.AUDIT_ARCH_I386, nr})
	}
	return ps
}

func TestDockerDefaultDecisions(t *testing.T) {
	p := loadDocker(t)
	prog, warns, err := CompileProfile(p, dockerTarget)
	if err != nil {
		t.Fatal(err)
	}
	if err := cbpf.Validate(prog.Instructions()); err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if _, ok := syscalls.Lookup(syscalls.X86_64, w.Name); ok {
			t.Errorf("warning for known syscall: %v", w)
		}
	}
	r, _, _ := Resolve(p, dockerTarget)
	vecs := argVectors()
	checked := 0
	for _, pr := range dockerProbes() {
		for _, args := range vecs {
			d := cbpf.SeccompData{Nr: int32(pr.nr), Arch: pr.arch, Args: args}
			ret, _ := cbpf.Exec(prog.Instructions(), &d)
			got := ActionFromRet(ret)
			want := dockerSays(t, p, pr.abi, pr.nr, args)
			if got != want {
				t.Fatalf("%v nr %#x (%s) args %#x: filter %v, profile says %v", pr.abi, pr.nr, syscalls.Name(pr.abi, pr.nr), args, got, want)
			}
			if ev := r.Evaluate(pr.arch, pr.nr, args); ev != want {
				t.Fatalf("%v nr %#x args %#x: Evaluate %v, profile says %v", pr.abi, pr.nr, args, ev, want)
			}
			checked++
		}
	}
	t.Logf("%d decisions checked, program %d instructions", checked, len(prog.Instructions()))
}

func TestDockerSpotChecks(t *testing.T) {
	prog, _, err := CompileProfile(loadDocker(t), dockerTarget)
	if err != nil {
		t.Fatal(err)
	}
	run := func(arch, nr uint32, args ...uint64) Action {
		d := cbpf.SeccompData{Nr: int32(nr), Arch: arch}
		copy(d.Args[:], args)
		ret, _, err := cbpf.Run(prog.Instructions(), &d)
		if err != nil {
			t.Fatal(err)
		}
		return ActionFromRet(ret)
	}
	eperm := ActErrno(unix.EPERM)
	for _, c := range []struct {
		name string
		got  Action
		want Action
	}{
		{"read", run(unix.AUDIT_ARCH_X86_64, unix.SYS_READ), ActAllow},
		{"mount", run(unix.AUDIT_ARCH_X86_64, unix.SYS_MOUNT), eperm},
		{"socket AF_INET", run(unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, unix.AF_INET), ActAllow},
		{"socket AF_INET hi bits", run(unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, 1<<32|unix.AF_INET), eperm},
		{"socket AF_VSOCK", run(unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, unix.AF_VSOCK), eperm},
		{"personality 0xffffffff", run(unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY, 0xffffffff), ActAllow},
		{"personality 1", run(unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY, 1), eperm},
		{"clone thread", run(unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_THREAD), ActAllow},
		{"clone newns", run(unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE, unix.CLONE_NEWNS), eperm},
		{"clone3", run(unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE3), ActENOSYS},
		{"chroot (CAP_SYS_CHROOT)", run(unix.AUDIT_ARCH_X86_64, unix.SYS_CHROOT), ActAllow},
		{"future syscall", run(unix.AUDIT_ARCH_X86_64, 480), ActENOSYS},
		{"x32 read", run(unix.AUDIT_ARCH_X86_64, syscalls.X32Bit), ActAllow},
		{"x32 execve 520", run(unix.AUDIT_ARCH_X86_64, syscalls.X32Bit|520), ActAllow},
		{"x32 mount", run(unix.AUDIT_ARCH_X86_64, syscalls.X32Bit|165), eperm},
		{"i386 socketcall", run(unix.AUDIT_ARCH_I386, 102), ActAllow},
		{"i386 arch_prctl", run(unix.AUDIT_ARCH_I386, 384), ActAllow},
		{"i386 mount", run(unix.AUDIT_ARCH_I386, 21), eperm},
		{"aarch64", run(unix.AUDIT_ARCH_AARCH64, 0), ActKillProcess},
		{"x86_64 arch, i386 number space", run(unix.AUDIT_ARCH_ARM, 3), ActKillProcess},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}
