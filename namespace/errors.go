package namespace

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// ErrNotSupported matches every error about a feature this kernel lacks.
var ErrNotSupported = internal.ErrNotSupported

// ErrInitNotCalled is returned by Cmd.Start when the program did not call
// Init first thing in main (or TestMain), or when the re-executed init
// exited without reaching the handshake.
var ErrInitNotCalled = errors.New("namespace: Init was not called first in main; the spawn path needs it")

// ErrMultithreadedUserns is returned when asked to join a user namespace:
// the kernel refuses setns(CLONE_NEWUSER) in a multithreaded process, and
// every Go program is one.
var ErrMultithreadedUserns = errors.New("namespace: cannot join a user namespace from a multithreaded process")

// InvalidError reports bad input: which field, which value, and why. It is
// returned before any kernel object is touched.
type InvalidError struct {
	Field  string
	Value  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("namespace: %s: %q: %s", e.Field, e.Value, e.Reason)
}

// SetupError is a failure inside the re-executed init, between clone and
// exec: which step failed, on which path (if any), and the errno. When Start
// returns one, the child has been reaped and nothing it built survives (its
// namespaces and mounts died with it).
type SetupError struct {
	// Step names the setup step, e.g. "root", "chdir", "setuid", "exec".
	Step string
	// Path is the file the step worked on, or "".
	Path string
	// Err is the underlying error; usually a syscall.Errno.
	Err error
}

func (e *SetupError) Error() string {
	msg := "namespace: init: " + e.Step
	if e.Path != "" {
		msg += " " + e.Path
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error (errors.Is(err, unix.ENOENT) works).
func (e *SetupError) Unwrap() error { return e.Err }

// NotFound reports whether the command itself was not found (shells and
// docker exit 127 for it).
func (e *SetupError) NotFound() bool {
	return e.Step == StepExec && errors.Is(e.Err, unix.ENOENT)
}

// NotExecutable reports whether the command exists but could not be
// executed (exit 126 by convention).
func (e *SetupError) NotExecutable() bool {
	return e.Step == StepExec && !e.NotFound()
}

// Steps reported in SetupError.Step.
const (
	StepStart        = "start"
	StepConfig       = "config"
	StepCgroupns     = "cgroupns"
	StepJoin         = "join"
	StepMount        = "root"
	StepHostname     = "hostname"
	StepLoopback     = "loopback"
	StepRlimit       = "rlimit"
	StepChdir        = "chdir"
	StepCredentials  = "credentials"
	StepCapabilities = "capabilities"
	StepNoNewPrivs   = "no_new_privs"
	StepSeccomp      = "seccomp"
	StepFDs          = "close_range"
	StepExec         = "exec"
)

// ExitCodeFor maps an error from Start to the exit status a command-line
// tool should use, following docker: 127 when the command was not found,
// 126 when it was not executable, 125 for any other failure, 0 for nil.
func ExitCodeFor(err error) int {
	var se *SetupError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se) && se.NotFound():
		return 127
	case errors.As(err, &se) && se.NotExecutable():
		return 126
	}
	return 125
}
