package internal

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrNotSupported is the one sentinel for "this kernel or host cannot do
// that". Public packages re-export it; every *UnsupportedError matches it
// with errors.Is.
var ErrNotSupported = errors.New("not supported")

// UnsupportedError says which feature is missing and, where known, the
// first kernel version that has it.
type UnsupportedError struct {
	// Feature names what is missing, e.g. "clone3 CLONE_INTO_CGROUP".
	Feature string
	// MinKernel is the first kernel version that has it ("5.7"), or "".
	MinKernel string
	// Reason optionally explains why it is unavailable on this host.
	Reason string
	// Err is the underlying error (often an errno), or nil.
	Err error
}

func (e *UnsupportedError) Error() string {
	msg := e.Feature + " not supported"
	if e.MinKernel != "" {
		msg += " (requires Linux " + e.MinKernel + ")"
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrNotSupported }

// Unwrap returns the underlying error.
func (e *UnsupportedError) Unwrap() error { return e.Err }

// Unsupported is a short constructor for *UnsupportedError.
func Unsupported(feature, minKernel string, err error) error {
	return &UnsupportedError{Feature: feature, MinKernel: minKernel, Err: err}
}

// Errorf wraps err with a verb-noun prefix while keeping it reachable by
// errors.Is/As. It returns nil when err is nil.
func Errorf(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// InvalidError reports bad input before anything touched the kernel: the
// field (a dotted path such as "Memory.Max" or "Mounts[2].Options"), the
// value as the caller gave it, and what would have been accepted. Every
// public package re-exports this one type as its InvalidError, so one
// errors.As serves them all; Pkg says which package refused.
type InvalidError struct {
	Pkg    string
	Field  string
	Value  any
	Reason string
}

// Error formats as `cgroup: Memory.Max: -5: must be >= 0, Zero or
// Unlimited`; a string value is quoted.
func (e *InvalidError) Error() string {
	v := fmt.Sprint(e.Value)
	if s, ok := e.Value.(string); ok {
		v = strconv.Quote(s)
	}
	return e.Pkg + ": " + e.Field + ": " + v + ": " + e.Reason
}

// StepError reports a failed step of work on a kernel object: which step
// ("write", "mount proc", "exec"), on which path, with which value where
// the step wrote one, and the cause, whose errno (or *UnsupportedError)
// stays reachable with errors.Is and errors.As. Every public package
// re-exports this one type as its StepError; it travels intact from the
// spawn path's init to the caller of namespace.Cmd.Start.
type StepError struct {
	Pkg   string
	Step  string
	Path  string
	Value string
	Err   error
}

// Error formats as `mount: mount proc /proc: operation not permitted`, or
// `cgroup: write "max" to /sys/fs/cgroup/x/memory.max: invalid argument`.
func (e *StepError) Error() string {
	msg := e.Pkg + ": " + e.Step
	switch {
	case e.Value != "" && e.Path != "":
		msg += " " + strconv.Quote(e.Value) + " to " + e.Path
	case e.Value != "":
		msg += " " + strconv.Quote(e.Value)
	case e.Path != "":
		msg += " " + e.Path
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }
