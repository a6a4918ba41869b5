package seccomp

import (
	"slices"
	"sort"

	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// ABI returns which accepted ABI a (arch, nr) pair belongs to, or false
// when the filter kills it as a foreign architecture.
func (r *Resolved) ABI(auditArch, nr uint32) (ABI, bool) {
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
// killed; on the 32-bit ABIs (i386, x32) conditions compare the low 32
// bits of arguments and values, as libseccomp does (see Op); the first
// matching rule decides; a number above the ABI's newest known syscall
// gets ENOSYS unless the default allows; else the default.
func (r *Resolved) Evaluate(auditArch, nr uint32, args [6]uint64) Action {
	abi, ok := r.ABI(auditArch, nr)
	if !ok {
		return ActKillProcess
	}
	rules := r.Rules[abi]
	i := sort.Search(len(rules), func(i int) bool { return rules[i].Nr >= nr })
	for ; i < len(rules) && rules[i].Nr == nr; i++ {
		if is32(abi) && rules[i].Matches32(&args) || !is32(abi) && rules[i].Matches(&args) {
			return rules[i].Action
		}
	}
	if r.Default.Kind != Allow && nr > syscalls.Newest(abi) && syscalls.Name(abi, nr) == "" {
		return ActENOSYS
	}
	return r.Default
}

// is32 reports whether libseccomp treats abi as a 32-bit architecture,
// comparing only the low words of arguments: i386 and x32.
func is32(abi syscalls.Arch) bool { return abi == syscalls.I386 || abi == syscalls.X32 }
