package netns

import (
	"errors"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/namespace"
)

// ErrNotSupported matches (errors.Is) every error saying this kernel or
// host lacks a feature the package needs.
var ErrNotSupported = internal.ErrNotSupported

// ErrNotNetns is wrapped by an *StepError when a path or pid names something
// that is not a network namespace (a plain file, another namespace kind).
var ErrNotNetns = errors.New("not a network namespace")

// ErrClosed is returned when a closed or nil *Handle is used; it is
// namespace.ErrClosed.
var ErrClosed = namespace.ErrClosed

// InvalidError reports invalid input (a namespace name, a Veth field such
// as "Veth.A.Addrs[1]"), before anything touched the kernel. It is the one
// invalid-input type of every confine package.
type InvalidError = internal.InvalidError

// StepError is a failed operation on a namespace or link: Step says what
// failed ("creating", "opening", "deleting"), Path the namespace file or
// link involved, and Err keeps the errno (errors.Is(err, unix.EEXIST),
// errors.Is(err, os.ErrExist) work). It is the one step-failed type of
// every confine package.
type StepError = internal.StepError

func opErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &StepError{Pkg: "netns", Step: op, Path: path, Err: err}
}

func invalid(field, value, reason string) error {
	return &InvalidError{Pkg: "netns", Field: field, Value: value, Reason: reason}
}
