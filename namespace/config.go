package namespace

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/confinelab/confine/mount"
)

// initConfig is what the parent sends the re-executed init, as JSON over an
// inherited pipe.
type initConfig struct {
	Path            string
	Args            []string
	Env             []string
	Dir             string
	Flags           uintptr // CLONE_NEW* flags of the namespaces created
	Hostname        string
	Domainname      string
	Root            *mount.Root
	Credential      *Credential
	Capabilities    *Capabilities
	NoNewPrivileges bool
	Rlimits         []Rlimit
	Seccomp         bpfProgram
	FirstFreeFD     int // 3 + len(ExtraFiles): fds from here on are closed at exec
	Pdeathsig       int
	JoinMount       bool // a MNT namespace fd follows the status pipe
	GateFD          int  // the Gate's listening socket, or 0
}

// wireError is a SetupError as it travels back over the status pipe.
type wireError struct {
	Step  string
	Path  string
	Errno int
	Msg   string
	// Unknown is set for ErrUnknownUser, which has no errno.
	Unknown bool
	// File is set for a *FileError.
	File *FileError `json:",omitempty"`
}

func toWire(step string, err error) wireError {
	w := wireError{Step: step, Msg: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		w.Errno = int(errno)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		w.Path = pe.Path
	}
	w.Unknown = errors.Is(err, ErrUnknownUser)
	if errors.As(err, &w.File) {
		w.Path = w.File.Path
	}
	var se *SetupError
	if errors.As(err, &se) {
		w.Step, w.Path = se.Step, se.Path
		if se.Err != nil {
			w.Msg = se.Err.Error()
		}
	}
	return w
}

func (w wireError) toError() *SetupError {
	var err error = errors.New(w.Msg)
	switch {
	case w.File != nil:
		err = w.File
	case w.Unknown:
		err = fmt.Errorf("%s: %w", w.Msg, ErrUnknownUser)
	case w.Errno != 0:
		err = &remoteError{msg: w.Msg, errno: syscall.Errno(w.Errno)}
	}
	return &SetupError{Step: w.Step, Path: w.Path, Err: err}
}

// remoteError keeps the init's message and its errno for errors.Is.
type remoteError struct {
	msg   string
	errno syscall.Errno
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.errno }
