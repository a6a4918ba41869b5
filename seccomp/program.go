package seccomp

import (
	"github.com/confinelab/confine/internal/cbpf"
	"golang.org/x/sys/unix"
)

// Program is a compiled classic BPF seccomp filter. Compile builds one;
// package namespace loads it in a sandbox's init right before exec.
type Program struct {
	insns []unix.SockFilter
}

// NewProgram wraps already compiled instructions. Load validates them.
func NewProgram(insns []unix.SockFilter) *Program { return &Program{insns: insns} }

// Instructions returns the filter's instructions. Do not modify them.
func (p *Program) Instructions() []unix.SockFilter { return p.insns }

// Run executes the filter in-process, in confine's classic-BPF simulator,
// on the syscall nr of the ABI auditArch (unix.AUDIT_ARCH_*) with args, and
// returns the action the kernel would take: a loaded filter decides the
// same (the kernel tests prove it). Compare with Resolved.Evaluate, the
// reference semantics of the profile.
func (p *Program) Run(auditArch, nr uint32, args [6]uint64) (Action, error) {
	ret, _, err := cbpf.Run(p.insns, &cbpf.SeccompData{Nr: int32(nr), Arch: auditArch, Args: args})
	if err != nil {
		return Action{}, err
	}
	return ActionFromRet(ret), nil
}
