// Package cbpf is a small classic BPF toolkit for seccomp filters: an
// assembler with symbolic labels (conditional jumps farther than 255
// instructions are rewritten through a JA trampoline), a validator that
// rejects what the kernel's seccomp checker rejects, and a simulator that
// runs a program on a seccomp_data record and reports the returned action
// and the number of executed instructions.
//
// It needs nothing from the kernel. Errors are returned as *Error values
// naming the instruction index. It is internal: the seccomp package is the
// public way to build filters.
package cbpf
