// Package seccomp builds and loads seccomp-bpf syscall filters in pure Go.
//
// It reads Docker/OCI seccomp profiles (Parse, FromOCI), resolves them for
// a target (Resolve: architecture, capabilities, kernel version), compiles
// them to classic BPF (Compile) and loads the result (Load). Default is a
// built-in profile that decides every syscall as Docker's default profile
// (moby/profiles/seccomp v0.3.0) does.
//
// The compiled filter checks the architecture first: x86_64, and i386 and
// x32 when the profile lists them (x32 is recognised by the 0x40000000 bit
// of the syscall number); any other architecture is killed. Syscalls are
// dispatched by an optimal binary search over their numbers, argument
// conditions compare all 64 bits (i386 arguments are 32 bits: the upper
// half of the register is ignored, as the kernel ignores it), and syscall numbers above the newest one
// the built-in tables know get ENOSYS when the default action does not
// allow, so a libc falls back cleanly as it does under runc. When several
// rules of a profile name one syscall, the first (in profile order) whose
// conditions all hold decides. Resolved.Evaluate is that reference
// semantics; every compiled filter can be checked against it in-process with
// the simulator in internal/cbpf.
//
// Kernel requirements: seccomp filters need Linux 3.17 (seccomp(2)); TSYNC
// 3.17, LOG and KILL_PROCESS 4.14, SPEC_ALLOW 4.17, user notification 5.0,
// TSYNC_ESRCH 5.7, ADDFD 5.9. Loading needs no_new_privs (Load sets it) or
// CAP_SYS_ADMIN. Only x86_64 hosts are supported.
//
// Errors: an invalid profile gives a *ProfileError naming the group index
// and field; syscalls a profile names that no accepted ABI knows are not an
// error but are skipped and returned as []Warning (never a silent allow:
// a skipped allow rule falls to the default action). Kernel failures keep
// their errno; missing kernel features match ErrNotSupported.
//
// Do not use it to filter a process you do not control the threads of
// without FlagTSYNC: seccomp filters apply per thread.
package seccomp

import "github.com/confinelab/confine/internal"

// ErrNotSupported is returned (wrapped) when the kernel lacks a feature.
var ErrNotSupported = internal.ErrNotSupported
