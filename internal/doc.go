// Package internal holds what confine's public packages share and users must
// not depend on: the ErrNotSupported sentinel and its typed error, kernel
// version probing, and (in sub-packages) syscall wrappers, the classic BPF
// assembler and simulator, eBPF programs, test utilities and the VM harness.
//
// Nothing here is covered by the module's compatibility promise.
package internal
