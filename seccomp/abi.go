package seccomp

import "github.com/confinelab/confine/internal/syscalls"

// ABI is one of the x86 system call ABIs a filter tells apart: Resolved
// keys its rules by ABI, so rules can be built by hand with these
// constants. (It is the built-in syscall tables' own type.)
type ABI = syscalls.Arch

// The ABIs of an x86_64 host.
const (
	ABIX86_64 ABI = syscalls.X86_64
	ABII386   ABI = syscalls.I386
	ABIX32    ABI = syscalls.X32
)
