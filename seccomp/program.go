package seccomp

import "golang.org/x/sys/unix"

// SKELETON (owned by the seccomp work). Package namespace relies on:
// Program.Instructions and NewProgram. Keep both.

// Program is a compiled classic BPF seccomp filter.
type Program struct {
	insns []unix.SockFilter
}

// NewProgram wraps already compiled instructions.
func NewProgram(insns []unix.SockFilter) *Program { return &Program{insns: insns} }

// Instructions returns the filter's instructions.
func (p *Program) Instructions() []unix.SockFilter { return p.insns }
