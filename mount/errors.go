package mount

import (
	"fmt"

	"github.com/confinelab/confine/internal"
)

// ErrNotSupported is returned (wrapped in a *internal.UnsupportedError) when
// the running kernel lacks a syscall Setup needs.
var ErrNotSupported = internal.ErrNotSupported

// ConfigError reports invalid input: the field, its value and why. It is
// returned before any mount is made.
type ConfigError struct {
	Field  string // e.g. "Mounts[2].Options"
	Value  string // the offending value
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("mount: %s: %q: %s", e.Field, e.Value, e.Reason)
}

// SetupError reports a failed step of Setup: which step, which path (inside
// the root where it applies) and the underlying error, which keeps the
// errno reachable with errors.Is (and a *DeviceError with errors.As).
type SetupError struct {
	// Step is one of "propagation", "open root", "bind root",
	// "mount TYPE" (e.g. "mount proc"), "mask", "readonly path",
	// "pivot_root", "detach old root", "chdir" or "readonly root".
	Step string
	Path string
	Err  error
}

func (e *SetupError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("mount: %s: %v", e.Step, e.Err)
	}
	return fmt.Sprintf("mount: %s %s: %v", e.Step, e.Path, e.Err)
}

// Unwrap returns the underlying error, so errors.Is(err, unix.EPERM) works.
func (e *SetupError) Unwrap() error { return e.Err }

// DeviceError reports a host device node that is not what it must be (for
// example /dev/null replaced by a symlink or a regular file). Setup refuses
// to bind such a node.
type DeviceError struct {
	Path string
	Want string // expected "char 1:3"
	Got  string // what was found
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("mount: device %s: want %s, found %s", e.Path, e.Want, e.Got)
}
