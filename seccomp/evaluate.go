package seccomp

import (
	"slices"
	"sort"

	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// ABI returns which accepted ABI a (arch, nr) pair belongs to, or false
// when the filter kills it as a foreign architecture.
func (r *Resolved) ABI(auditArch, nr uint32) (syscalls.Arch, bool) {
	var abi syscalls.Arch
	switch auditArch {
	case unix.AUDIT_ARCH_X86_64:
		abi = syscalls.X86_64
		if nr&syscalls.X32Bit != 0 {
			abi = syscalls.X32
		}
	case unix.AUDIT_ARCH_I386:
		abi = syscalls.I386
	default:
		return 0, false
	}
	return abi, slices.Contains(r.Arches, abi)
}

// Evaluate is the reference decision for a syscall: foreign ABIs are
// killed; i386 arguments are taken as their low 32 bits (the kernel
// ignores the upper half of the registers); the first matching rule
// decides; a number above the ABI's newest
// known syscall gets ENOSYS unless the default allows; else the default.
func (r *Resolved) Evaluate(auditArch, nr uint32, args [6]uint64) Action {
	abi, ok := r.ABI(auditArch, nr)
	if !ok {
		return ActKillProcess
	}
	if abi == syscalls.I386 {
		for i := range args {
			args[i] = uint64(uint32(args[i])) // i386 arguments are 32 bits
		}
	}
	rules := r.Rules[abi]
	i := sort.Search(len(rules), func(i int) bool { return rules[i].Nr >= nr })
	for ; i < len(rules) && rules[i].Nr == nr; i++ {
		if rules[i].Matches(&args) {
			return rules[i].Action
		}
	}
	if r.Default.Kind != Allow && nr > syscalls.Newest(abi) && syscalls.Name(abi, nr) == "" {
		return ActENOSYS
	}
	return r.Default
}
