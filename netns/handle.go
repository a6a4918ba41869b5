package netns

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/namespace"
)

// Handle is a network namespace: the namespace package's Handle (one
// handle type for every kind), always of kind NET when it comes from this
// package. It keeps the namespace alive until Close; join it with
// namespace.Do(fn, h), start a command in it with namespace.Cmd.Join.
type Handle = namespace.Handle

// OpenPath opens the network namespace file at path (a /run/netns entry, a
// bind mount made by another tool, or /proc/PID/ns/net). Anything else is
// an *StepError wrapping ErrNotNetns.
func OpenPath(path string) (*Handle, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("opening", path, err)
	}
	defer unix.Close(fd)
	if err := checkNetns(fd, path); err != nil {
		return nil, err
	}
	h, err := namespace.FromFD(fd)
	if err != nil {
		return nil, opErr("opening", path, err)
	}
	return h, nil
}

// OpenPid opens the network namespace of process pid.
func OpenPid(pid int) (*Handle, error) {
	if pid <= 0 {
		return nil, invalid("pid", strconv.Itoa(pid), "must be > 0")
	}
	return OpenPath("/proc/" + strconv.Itoa(pid) + "/ns/net")
}

// Current opens the network namespace of the calling OS thread. Unless the
// caller has locked its goroutine to a thread it moved elsewhere, that is
// the process's network namespace.
func Current() (*Handle, error) {
	return OpenPath("/proc/thread-self/ns/net")
}

// checkNetns verifies with NS_GET_NSTYPE (Linux 4.11) that fd refers to a
// network namespace.
func checkNetns(fd int, path string) error {
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err == nil {
		if typ != unix.CLONE_NEWNET {
			return opErr("opening", path, fmt.Errorf("%w (namespace type %#x)", ErrNotNetns, typ))
		}
		return nil
	}
	if !errors.Is(err, unix.ENOTTY) {
		return opErr("inspecting", path, err)
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) == nil && sfs.Type == unix.NSFS_MAGIC {
		// An nsfs file that does not know the ioctl: pre-4.11 kernel.
		return internal.Unsupported("ioctl NS_GET_NSTYPE", "4.11", err)
	}
	return opErr("opening", path, ErrNotNetns)
}

// checkHandle makes sure h is an open network namespace handle (a
// namespace.Handle of another kind is refused with ErrNotNetns).
func checkHandle(h *Handle) error {
	if h.FD() < 0 {
		return ErrClosed
	}
	if h.Kind() != namespace.NET {
		return opErr("using", h.String(), fmt.Errorf("%w (namespace kind %s)", ErrNotNetns, h.Kind()))
	}
	return nil
}

// inNetns runs fn with namespace.Do inside h, a network namespace handle.
func inNetns(h *Handle, fn func() error) error {
	if err := checkHandle(h); err != nil {
		return err
	}
	return namespace.Do(fn, h)
}
