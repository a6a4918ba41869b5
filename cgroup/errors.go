package cgroup

import (
	"fmt"

	"github.com/confinelab/confine/internal"
)

// ErrNotSupported matches every error saying the host or kernel cannot do
// what was asked (errors.Is(err, cgroup.ErrNotSupported)).
var ErrNotSupported = internal.ErrNotSupported

// InvalidError reports a Resources field whose value the package refuses
// before anything is written to the kernel.
type InvalidError struct {
	// Field is the dotted field name, e.g. "Memory.Max" or "IO.Devices[1].Rbps".
	Field string
	// Value is the offending value as the caller gave it.
	Value any
	// Reason says what would have been accepted.
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("cgroup: %s: %v: %s", e.Field, e.Value, e.Reason)
}

func invalid(field string, value any, reason string) error {
	return &InvalidError{Field: field, Value: value, Reason: reason}
}

// V1BoundError says a controller the caller needs is attached to a cgroup
// v1 hierarchy on this host, so the unified (v2) hierarchy cannot offer it.
// It matches ErrNotSupported.
type V1BoundError struct {
	// Controller is the controller name, e.g. "memory".
	Controller string
	// Mount is the v1 mount point holding it, when known.
	Mount string
}

func (e *V1BoundError) Error() string {
	msg := fmt.Sprintf("cgroup: controller %q is bound to cgroup v1 on this host", e.Controller)
	if e.Mount != "" {
		msg += " (mounted at " + e.Mount + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *V1BoundError) Is(target error) bool { return target == ErrNotSupported }

// ControllerError says a controller is not available where it is needed:
// absent from the kernel, or not delegated to the cgroup's parent.
type ControllerError struct {
	// Controller is the controller name.
	Controller string
	// Path is the cgroup whose cgroup.controllers lacks it.
	Path string
	// Reason explains the situation.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *ControllerError) Error() string {
	msg := fmt.Sprintf("cgroup: controller %q at %s: %s", e.Controller, e.Path, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *ControllerError) Unwrap() error { return e.Err }

// Is matches ErrNotSupported when the controller is missing altogether.
func (e *ControllerError) Is(target error) bool {
	return target == ErrNotSupported && e.Err == nil
}

// FileError reports a failed read or write of one control file, keeping
// the errno reachable through errors.Is.
type FileError struct {
	// Op is "read" or "write".
	Op string
	// Path is the control file.
	Path string
	// Value is what was written (for writes).
	Value string
	// Err is the underlying error (often a syscall.Errno).
	Err error
}

func (e *FileError) Error() string {
	if e.Op == "write" {
		return fmt.Sprintf("cgroup: writing %q to %s: %v", e.Value, e.Path, e.Err)
	}
	return fmt.Sprintf("cgroup: %s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }
