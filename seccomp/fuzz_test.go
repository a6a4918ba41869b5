package seccomp

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

func FuzzParse(f *testing.F) {
	docker, err := os.ReadFile(dockerProfilePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(docker)
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[{"index":1,"value":2,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_KILL","architectures":["SCMP_ARCH_X86"],"syscalls":[{"name":"write","action":"SCMP_ACT_TRACE"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var pe *InvalidError
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if !errors.As(err, &pe) && !errors.As(err, &se) && !errors.As(err, &te) && len(data) > 0 {
				t.Logf("untyped error: %v", err) // other decoder errors are fine too
			}
			return
		}
		r, _, err := Resolve(p, Target{Caps: DefaultCaps, Kernel: "6.1"})
		if err != nil {
			var pe *InvalidError
			if !errors.As(err, &pe) {
				t.Fatalf("resolve: untyped error %v", err)
			}
			return
		}
		if _, err := Compile(r); err != nil {
			t.Fatalf("valid profile does not compile: %v", err)
		}
	})
}

// byteSource turns fuzz input into choices; it yields zeros when empty.
type byteSource struct{ b []byte }

func (s *byteSource) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *byteSource) pick(n int) int { return int(s.next()) % n }

var (
	fuzzNames = []string{"read", "write", "socket", "personality", "clone", "ioctl", "mmap", "_llseek",
		"socketcall", "rt_sigaction", "execve", "getpid", "mount", "preadv2", "mseal", "nosuchcall"}
	fuzzValues = []uint64{0, 1, 2, 3, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, 0x1_0000_0000,
		0x1_0000_0001, 0xffffffff_00000000, 0xffffffff_ffffffff, 0x8000_0000_0000_0000, 0x7E020000}
	fuzzActions = []string{NameActAllow, NameActErrno, NameActKillProcess, NameActKillThread, NameActTrap,
		NameActTrace, NameActLog, NameActNotify}
	fuzzOps = []string{OpNE, OpLT, OpLE, OpEQ, OpGE, OpGT, OpMaskedEQ}
)

func fuzzProfile(s *byteSource) *Profile {
	p := &Profile{DefaultAction: fuzzActions[s.pick(len(fuzzActions))]}
	switch s.pick(4) {
	case 1:
		p.Architectures = []string{"SCMP_ARCH_X86"}
	case 2:
		p.ArchMap = []ArchMap{{Arch: "SCMP_ARCH_X86_64", SubArches: []string{"SCMP_ARCH_X86", "SCMP_ARCH_X32"}}}
	case 3:
		p.Architectures = []string{"SCMP_ARCH_X32"}
	}
	for g := s.pick(12); g > 0; g-- {
		sc := Syscall{Action: fuzzActions[s.pick(len(fuzzActions))]}
		for n := 1 + s.pick(3); n > 0; n-- {
			sc.Names = append(sc.Names, fuzzNames[s.pick(len(fuzzNames))])
		}
		if e := uint(s.pick(40)); e > 0 {
			sc.ErrnoRet = &e
		}
		for n := s.pick(4) - 1; n > 0; n-- {
			v := fuzzValues[s.pick(len(fuzzValues))] + uint64(s.pick(3)) - 1
			sc.Args = append(sc.Args, Arg{Index: uint(s.pick(6)), Op: fuzzOps[s.pick(len(fuzzOps))],
				Value: v, ValueTwo: v & fuzzValues[s.pick(len(fuzzValues))]})
		}
		p.Syscalls = append(p.Syscalls, sc)
	}
	return p
}

// FuzzCompileAgrees compiles random profiles and checks that the simulated
// filter decides every probe exactly as the rules say (Resolved.Evaluate).
func FuzzCompileAgrees(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 2, 5, 0, 2, 2, 3, 3, 4, 1, 2, 3, 5, 7, 1, 1, 0, 2, 3, 9, 9, 9})
	f.Add([]byte{2, 1, 8, 3, 4, 1, 0, 3, 2, 5, 6, 7, 8, 2, 2, 3, 1, 4, 4, 4, 4, 1, 6, 3, 3, 2, 2, 1, 0, 5})
	f.Add([]byte("personality socket clone ioctl and friends with many arguments"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &byteSource{b: data}
		p := fuzzProfile(s)
		r, _, err := Resolve(p, Target{Kernel: "6.1"})
		if err != nil {
			var pe *InvalidError
			if !errors.As(err, &pe) {
				t.Fatalf("untyped: %v", err)
			}
			return
		}
		// Compile's choice, and x32 calls through the native dispatch.
		var progs [][]unix.SockFilter
		for _, mode := range []x32Mode{x32Auto, x32Shared} {
			prog, err := compile(r, mode)
			if err != nil {
				t.Fatal(err)
			}
			if err := cbpf.Validate(prog.Instructions()); err != nil {
				t.Fatal(err)
			}
			progs = append(progs, prog.Instructions())
		}
		check := func(arch, nr uint32, args [6]uint64) {
			d := cbpf.SeccompData{Nr: int32(nr), Arch: arch, Args: args}
			for _, insns := range progs {
				ret, _ := cbpf.Exec(insns, &d)
				if got, want := ActionFromRet(ret), r.Evaluate(arch, nr, args); got != want {
					t.Fatalf("arch %#x nr %#x args %#x: filter %v, rules %v\nprofile %+v", arch, nr, args, got, want, p)
				}
			}
		}
		for _, name := range fuzzNames {
			for _, abi := range []syscalls.Arch{syscalls.X86_64, syscalls.I386, syscalls.X32} {
				nr, ok := syscalls.Lookup(abi, name)
				if !ok {
					continue
				}
				arch := uint32(unix.AUDIT_ARCH_X86_64)
				if abi == syscalls.I386 {
					arch = unix.AUDIT_ARCH_I386
				}
				for k := 0; k < 24; k++ {
					var args [6]uint64
					for i := range args {
						args[i] = fuzzValues[(k*7+i*3)%len(fuzzValues)] + uint64(k%3) - 1
					}
					check(arch, nr, args)
				}
			}
		}
		for _, nr := range []uint32{471, 472, 600, 0x3fffffff, 0x40000000 | 500, 0x40000000 | 600, 0x40000000 | 16, 0x40000000 | 514, 0xc0000000, 0xffffffff} {
			check(unix.AUDIT_ARCH_X86_64, nr, [6]uint64{})
			check(unix.AUDIT_ARCH_I386, nr, [6]uint64{})
		}
		check(unix.AUDIT_ARCH_AARCH64, 0, [6]uint64{})
	})
}
