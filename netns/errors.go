package netns

import (
	"errors"
	"fmt"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/namespace"
)

// ErrNotSupported matches (errors.Is) every error saying this kernel or
// host lacks a feature the package needs.
var ErrNotSupported = internal.ErrNotSupported

// ErrNotNetns is wrapped by an *OpError when a path or pid names something
// that is not a network namespace (a plain file, another namespace kind).
var ErrNotNetns = errors.New("not a network namespace")

// ErrClosed is returned when a closed or nil *Handle is used; it is
// namespace.ErrClosed.
var ErrClosed = namespace.ErrClosed

// NameError reports an invalid namespace name, before anything touched the
// kernel.
type NameError struct {
	Name   string
	Reason string
}

// Error formats as `netns: name "a/b": must not contain '/'`.
func (e *NameError) Error() string {
	return fmt.Sprintf("netns: name %q: %s", e.Name, e.Reason)
}

// ConfigError reports an invalid field of a configuration value (Veth),
// before anything touched the kernel. Field is the path to the field, e.g.
// "Veth.A.Addrs[1]".
type ConfigError struct {
	Field  string
	Value  string
	Reason string
}

// Error formats as `netns: Veth.MTU: "12": must be 0 (default) or 68-65535`.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("netns: %s: %q: %s", e.Field, e.Value, e.Reason)
}

// OpError is a failed operation on a namespace or link. Err keeps the
// errno (errors.Is(err, unix.EEXIST), errors.Is(err, os.ErrExist) work).
type OpError struct {
	// Op says what failed, e.g. "creating", "opening", "deleting".
	Op string
	// Path is the namespace file or object involved, e.g. /run/netns/foo
	// or the link name.
	Path string
	Err  error
}

// Error formats as "netns: OP PATH: ERR".
func (e *OpError) Error() string {
	if e.Path == "" {
		return "netns: " + e.Op + ": " + e.Err.Error()
	}
	return "netns: " + e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Path: path, Err: err}
}
