package seccomp

import "golang.org/x/sys/unix"

// Program is a compiled classic BPF seccomp filter. Compile builds one;
// package namespace loads it in a sandbox's init right before exec.
type Program struct {
	insns []unix.SockFilter
}

// NewProgram wraps already compiled instructions. Load validates them.
func NewProgram(insns []unix.SockFilter) *Program { return &Program{insns: insns} }

// Instructions returns the filter's instructions. Do not modify them.
func (p *Program) Instructions() []unix.SockFilter { return p.insns }
