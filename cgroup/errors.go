package cgroup

import (
	"fmt"

	"github.com/confinelab/confine/internal"
)

// ErrNotSupported matches every error saying the host or kernel cannot do
// what was asked (errors.Is(err, cgroup.ErrNotSupported)).
var ErrNotSupported = internal.ErrNotSupported

// InvalidError reports a field whose value the package refuses before
// anything is written to the kernel: Field is the dotted field name, e.g.
// "Memory.Max" or "IO.Devices[1].Rbps". It is the one invalid-input type
// of every confine package.
type InvalidError = internal.InvalidError

func invalid(field string, value any, reason string) error {
	return &InvalidError{Pkg: "cgroup", Field: field, Value: value, Reason: reason}
}

// StepError reports a failed step on a control file ("read", "write",
// "watch", ...), with the file, the value written and the cause, whose
// errno stays reachable through errors.Is. It is the one step-failed type
// of every confine package.
type StepError = internal.StepError

func fileError(op, path, value string, err error) error {
	return &StepError{Pkg: "cgroup", Step: op, Path: path, Value: value, Err: err}
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
