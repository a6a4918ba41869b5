package namespace

import (
	"errors"

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
// returned before any kernel object is touched. It is the one
// invalid-input type of every confine package.
type InvalidError = internal.InvalidError

// StepError is the one step-failed type of every confine package. From
// Start it reports a failure inside the re-executed init, between clone
// and exec: Pkg "namespace", Step one of the Step constants, Path the file
// the step worked on (or ""), and Err the init's whole error chain, intact
// across the status pipe: errors.Is(err, unix.ENOENT) and
// errors.Is(err, ErrNotSupported) work, and errors.As finds a mount step's
// *StepError (Pkg "mount"), a *mount.DeviceError, a *mount.TargetError, a
// *FileError or an *InitDiedError. When Start returns one, the child has
// been reaped and nothing it built survives (its namespaces and mounts
// died with it). The command was not found when Step is StepExec and the
// error matches unix.ENOENT.
type StepError = internal.StepError

// Steps reported in StepError.Step.
const (
	StepStart        = "start"
	StepConfig       = "config"
	StepCgroupns     = "cgroupns"
	StepJoin         = "join"
	StepMount        = "root"
	StepHostname     = "hostname"
	StepSysctl       = "sysctl"
	StepLoopback     = "loopback"
	StepRlimit       = "rlimit"
	StepChdir        = "chdir"
	StepCredentials  = "credentials"
	StepCapabilities = "capabilities"
	StepNoNewPrivs   = "no_new_privs"
	StepSeccomp      = "seccomp"
	StepFDs          = "close_range"
	StepStdio        = "stdio"
	StepConsole      = "console"
	StepExec         = "exec"
)
