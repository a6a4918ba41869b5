// Package seccomp builds and loads seccomp-bpf syscall filters in pure Go.
//
// It reads Docker/OCI seccomp profiles (Parse, FromOCI), resolves them for
// a target (Resolve: architecture, capabilities, kernel version), compiles
// them to classic BPF (Compile) and loads the result (Load). Default is a
// built-in profile that decides every syscall as Docker's default profile
// (moby/profiles/seccomp v0.3.0) does.
//
// Decisions are libseccomp's (2.5), as runc, crun and Docker apply a
// profile: MASKED_EQ holds when arg&mask == datum&mask; on i386 and x32,
// which libseccomp treats as 32-bit architectures, conditions compare
// only the low 32 bits of argument and value; on i386 a rule on a socket
// or System V IPC call (socket, connect, accept, ..., semop, shmctl, ...)
// applies to its socketcall(2)/ipc(2) form as well, argument 0 being the
// call number (other conditions kept at their index); a group whose action
// is the default action is dropped, and a group testing one argument twice
// means any one of its conditions, as runc builds them; an unconditional
// rule for a syscall overrides its conditional rules. Otherwise, when
// several rules name a syscall, the first (in profile order) whose
// conditions all hold decides. Resolved.Evaluate is that reference
// semantics, and Program.Run executes a compiled filter in-process on a
// seccomp_data of your choosing, so every filter can be checked against
// Evaluate without loading it.
//
// Deliberate differences from runc+libseccomp, each for safety or
// predictability: (1) an architecture the filter does not accept kills the
// process (libseccomp's default kills the thread only, leaving a process
// half alive); (2) syscall numbers above the newest one the built-in
// tables know get ENOSYS when the default action does not allow, so a
// libc falls back cleanly (runc patches a similar stub in, based on the
// newest syscall the profile names); (3) rules for one syscall that
// overlap with different actions are decided by profile order, where
// libseccomp's result depends on how its rule tree merges them, or it
// refuses the profile (EEXIST): rules with identical conditions and
// different actions are an *InvalidError here too.
//
// The compiled filter checks the architecture first: x86_64, and i386 and
// x32 when the profile lists them (x32 is recognised by the 0x40000000 bit
// of the syscall number). A search over syscall numbers, shaped for size
// and for the tests a call executes together, leads to a RET or to the
// syscall's argument checks, compiled as a decision diagram that tests
// each argument word once for all rules comparing it. Identical code
// (a RET, an argument check several syscalls share, a common subtree) is
// emitted once; x32 calls may be decided by the native search with the
// x32 bit masked off, when that is smaller. Programs are a fraction of
// libseccomp's for the same profile (Docker's default: about a fifth of
// its binary tree), executing no more instructions per native call on
// average.
//
// A profile that still exceeds the kernel's 4096 instructions is a
// *TooLargeError from Compile, never a bare EINVAL from the kernel: about
// 3,000 values for one argument of one syscall fit, or 1,700 when i386
// and x32 are accepted too. Such a profile is not split into stacked
// filters, though the kernel would apply the most restrictive answer of
// several: every filter would run on every syscall, so their costs add
// up; seccomp(2) installs one filter per call, so a failure between two
// loads would leave part of the policy in force, and a split by syscall
// leaves allowed what the missing filter was to deny; only one filter can
// have a user-notification listener; and a Program is one filter, as the
// spawn path loads it.
//
// Kernel requirements: seccomp filters need Linux 3.17 (seccomp(2)); TSYNC
// 3.17, LOG and KILL_PROCESS 4.14, SPEC_ALLOW 4.17, user notification 5.0,
// TSYNC_ESRCH 5.7, ADDFD 5.9. Loading needs no_new_privs (Load sets it) or
// CAP_SYS_ADMIN. Only x86_64 hosts are supported.
//
// Errors: an invalid profile gives an *InvalidError naming the group index
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
