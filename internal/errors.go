package internal

import (
	"errors"
	"fmt"
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
