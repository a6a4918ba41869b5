package main

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported matches every *UnsupportedError: a config.json field
// confine-runtime understands but cannot honour.
var ErrUnsupported = errors.New("not supported by confine-runtime")

// ConfigError is an invalid value in config.json: the field (as a JSON
// path, e.g. "process.rlimits[1].type"), its value and why.
type ConfigError struct {
	Field  string
	Value  string
	Reason string
	Err    error // the library's typed error, when it decided
}

func (e *ConfigError) Error() string {
	msg := fmt.Sprintf("config.json: %s: %q: %s", e.Field, e.Value, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ConfigError) Unwrap() error { return e.Err }

// UnsupportedError is a config.json field (or a command-line flag, Field
// "--name") this runtime does not implement (SELinux labels, AppArmor,
// Intel RDT, the systemd cgroup driver, ...): refused, never ignored.
type UnsupportedError struct {
	Field  string
	Value  string
	Reason string
}

func (e *UnsupportedError) Error() string {
	where := "config.json: "
	if strings.HasPrefix(e.Field, "--") {
		where = "" // a command-line flag (--systemd-cgroup), not a field
	}
	msg := fmt.Sprintf("%s%s: %q: not supported by confine-runtime", where, e.Field, e.Value)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrUnsupported) work.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// StateError is a command that does not fit the container's state (start
// of a running container, delete of a running one without --force).
type StateError struct {
	ID     string
	Status string
	Op     string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("container %s is %s: cannot %s", e.ID, e.Status, e.Op)
}

// UsageError is a bad command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }
