// Package rawsys issues syscalls through other ABIs than the native one,
// for tests that check what a seccomp filter does with them: Int80 enters
// the kernel through the i386 "int $0x80" gate from a 64-bit process. It
// is test support, not for production use: the call does not tell the Go
// scheduler it is in a syscall, so only use it for syscalls that return
// at once.
package rawsys
