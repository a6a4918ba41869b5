package internal

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// Probe is a feature check made once and cached: nil when the kernel has
// the feature, else an error matching ErrNotSupported, an
// *UnsupportedError naming the feature and the first kernel that has it.
// The public packages export their probes as Have* functions, after
// cilium/ebpf's features package.
type Probe func() error

// SyscallProbe calls call once: ENOSYS (the syscall does not exist) or
// EINVAL when einvalMeansMissing (an unknown flag or command) say the
// feature is missing; any other result, EPERM included, says the kernel
// knows the call.
func SyscallProbe(feature, minKernel string, einvalMeansMissing bool, call func() error) Probe {
	return sync.OnceValue(func() error {
		err := call()
		if errors.Is(err, unix.ENOSYS) || einvalMeansMissing && errors.Is(err, unix.EINVAL) {
			return &UnsupportedError{Feature: feature, MinKernel: minKernel, Err: err}
		}
		return nil
	})
}

// VersionProbe says a feature is there from kernel minKernel on, for
// features that cannot be tried without side effects (a clone, a program
// attached to a cgroup).
func VersionProbe(feature, minKernel string) Probe {
	return sync.OnceValue(func() error {
		want, err := ParseVersion(minKernel)
		if err != nil {
			return err
		}
		have, err := KernelVersion()
		if err != nil {
			return &UnsupportedError{Feature: feature, MinKernel: minKernel, Err: err}
		}
		if have.Less(want) {
			return &UnsupportedError{Feature: feature, MinKernel: minKernel, Reason: "running Linux " + have.String()}
		}
		return nil
	})
}
