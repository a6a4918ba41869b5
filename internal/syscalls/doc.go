// Package syscalls holds the x86 syscall tables (x86_64, i386 and x32)
// generated from the kernel's arch/x86/entry/syscalls/*.tbl by ./gen, and
// lookups by name and number. x32 numbers carry the 0x40000000 bit, as
// seccomp sees them. The tables run up to syscall 471 (rseq_slice_yield),
// including statmount, listmount, mseal, the *xattrat calls,
// open_tree_attr and file_getattr/file_setattr.
//
// Regenerate with:
//
//	go run ./internal/syscalls/gen -64 syscall_64.tbl -32 syscall_32.tbl -o internal/syscalls/ztables.go
package syscalls
