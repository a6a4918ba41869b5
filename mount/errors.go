package mount

import (
	"fmt"

	"github.com/confinelab/confine/internal"
)

// ErrNotSupported is returned (wrapped in a *internal.UnsupportedError) when
// the running kernel lacks a syscall Setup needs.
var ErrNotSupported = internal.ErrNotSupported

// InvalidError reports invalid input: the field (e.g.
// "Mounts[2].Options"), its value and why. It is returned before any mount
// is made. It is the one invalid-input type of every confine package.
type InvalidError = internal.InvalidError

// StepError reports a failed step of Setup: which step ("propagation",
// "open root", "bind root", "mount TYPE" such as "mount proc", "mask",
// "readonly path", "pivot_root", "detach old root", "chdir" or "readonly
// root"), which path (inside the root where it applies) and the cause,
// which keeps the errno reachable with errors.Is (and a *DeviceError or
// *TargetError with errors.As). It is the one step-failed type of every
// confine package, and reaches a namespace.Cmd's caller intact.
type StepError = internal.StepError

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
