package namespace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/mount"
)

// A setup error travels from the init to the parent as its whole chain,
// outermost first: one frame per error that errors.Unwrap reaches, with
// the fields of every type the module defines, so that errors.Is and
// errors.As in the parent see what the init saw (a *mount.StepError with
// its path, an *UnsupportedError with its minimum kernel, the errno).
// Types the codec does not know travel as their message and still wrap
// what they wrapped.
type wireFrame struct {
	Type string `json:"t"`
	Msg  string `json:"m,omitempty"`
	// StepError, InvalidError, UnsupportedError, PathError, SyscallError,
	// DeviceError, TargetError, FileError fields.
	Pkg     string `json:"pkg,omitempty"`
	Step    string `json:"step,omitempty"`
	Path    string `json:"path,omitempty"`
	Value   string `json:"value,omitempty"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Feature string `json:"feature,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	Want    string `json:"want,omitempty"`
	Got     string `json:"got,omitempty"`
	Errno   int    `json:"errno,omitempty"`
}

const (
	frameText        = "text"
	frameErrno       = "errno"
	frameStep        = "step"
	frameInvalid     = "invalid"
	frameUnsupported = "unsupported"
	framePath        = "path"
	frameSyscall     = "syscall"
	frameDevice      = "device"
	frameTarget      = "target"
	frameFile        = "file"
	frameUnknownUser = "unknownuser"
	frameProcessDone = "processdone"
)

// encodeChain lists err's chain as frames.
func encodeChain(err error) []wireFrame {
	var out []wireFrame
	for ; err != nil; err = errors.Unwrap(err) {
		f := wireFrame{Type: frameText, Msg: err.Error()}
		switch e := err.(type) {
		case syscall.Errno:
			f = wireFrame{Type: frameErrno, Errno: int(e)}
		case *internal.StepError:
			f = wireFrame{Type: frameStep, Pkg: e.Pkg, Step: e.Step, Path: e.Path, Value: e.Value}
		case *internal.InvalidError:
			f = wireFrame{Type: frameInvalid, Pkg: e.Pkg, Field: e.Field, Value: fmt.Sprint(e.Value), Reason: e.Reason}
		case *internal.UnsupportedError:
			f = wireFrame{Type: frameUnsupported, Feature: e.Feature, Kernel: e.MinKernel, Reason: e.Reason}
		case *fs.PathError:
			f = wireFrame{Type: framePath, Step: e.Op, Path: e.Path}
		case *os.SyscallError:
			f = wireFrame{Type: frameSyscall, Step: e.Syscall}
		case *mount.DeviceError:
			f = wireFrame{Type: frameDevice, Path: e.Path, Want: e.Want, Got: e.Got}
		case *mount.TargetError:
			f = wireFrame{Type: frameTarget, Path: e.Target, Value: e.Filesystem}
		case *FileError:
			f = wireFrame{Type: frameFile, Path: e.Path, Reason: e.Reason}
		default:
			switch err {
			case ErrUnknownUser:
				f = wireFrame{Type: frameUnknownUser}
			case os.ErrProcessDone:
				f = wireFrame{Type: frameProcessDone}
			}
		}
		out = append(out, f)
	}
	return out
}

// decodeChain rebuilds the chain encodeChain listed.
func decodeChain(frames []wireFrame) error {
	var err error
	for i := len(frames) - 1; i >= 0; i-- {
		err = frames[i].rebuild(err)
	}
	return err
}

func (f wireFrame) rebuild(inner error) error {
	switch f.Type {
	case frameErrno:
		return syscall.Errno(f.Errno)
	case frameUnknownUser:
		return ErrUnknownUser
	case frameProcessDone:
		return os.ErrProcessDone
	case frameStep:
		return &internal.StepError{Pkg: f.Pkg, Step: f.Step, Path: f.Path, Value: f.Value, Err: inner}
	case frameInvalid:
		return &internal.InvalidError{Pkg: f.Pkg, Field: f.Field, Value: f.Value, Reason: f.Reason}
	case frameUnsupported:
		return &internal.UnsupportedError{Feature: f.Feature, MinKernel: f.Kernel, Reason: f.Reason, Err: inner}
	case framePath:
		return &fs.PathError{Op: f.Step, Path: f.Path, Err: inner}
	case frameSyscall:
		return &os.SyscallError{Syscall: f.Step, Err: inner}
	case frameDevice:
		return &mount.DeviceError{Path: f.Path, Want: f.Want, Got: f.Got}
	case frameTarget:
		return &mount.TargetError{Target: f.Path, Filesystem: f.Value}
	case frameFile:
		return &FileError{Path: f.Path, Reason: f.Reason}
	}
	if inner == nil {
		return errors.New(f.Msg)
	}
	return &remoteError{msg: f.Msg, inner: inner}
}

// remoteError is a wrapping error of a type the codec does not know: its
// message as the init printed it, and what it wrapped.
type remoteError struct {
	msg   string
	inner error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.inner }

// wireError is a failed step as it travels over the status pipe.
type wireError struct {
	Step  string
	Path  string
	Chain []wireFrame
}

// toWire encodes the failure of step. An init step that already made its
// own namespace *StepError (naming a more precise step or a path) is sent
// as that step, not wrapped in a second one.
func toWire(step string, err error) wireError {
	var path string
	if se, ok := err.(*StepError); ok && se.Pkg == "namespace" {
		step, path, err = se.Step, se.Path, se.Err
	}
	return wireError{Step: step, Path: path, Chain: encodeChain(err)}
}

// toError is the parent's error for a failed step: a *StepError of package
// namespace naming the step, whose cause is the init's error chain. Its
// Path is the path the init's error names, if any (the innermost step's
// or path error's).
func (w wireError) toError() *StepError {
	cause := decodeChain(w.Chain)
	se := &StepError{Pkg: "namespace", Step: w.Step, Path: w.Path, Err: cause}
	for e := cause; e != nil && w.Path == ""; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *internal.StepError:
			if e.Path != "" {
				se.Path = e.Path
			}
		case *fs.PathError:
			if se.Path == "" {
				se.Path = e.Path
			}
		case *FileError:
			se.Path = e.Path
		}
	}
	return se
}
