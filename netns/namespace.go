package netns

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/namespace"
)

// FromNamespace returns a network namespace Handle for a namespace
// package handle of kind NET, on its own O_CLOEXEC duplicate of the fd:
// closing one handle leaves the other open. Another kind gives an
// *OpError wrapping ErrNotNetns, a nil or closed handle ErrClosed.
func FromNamespace(h *namespace.Handle) (*Handle, error) {
	fd := h.FD() // -1 for nil
	if fd < 0 {
		return nil, ErrClosed
	}
	if h.Kind() != namespace.NET {
		return nil, opErr("converting", h.String(), fmt.Errorf("%w (namespace kind %s)", ErrNotNetns, h.Kind()))
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("duplicating", h.String(), err)
	}
	nh, err := newHandle(nfd, h.String())
	if err != nil {
		unix.Close(nfd)
		return nil, err
	}
	return nh, nil
}

// Namespace returns a namespace package handle on its own O_CLOEXEC
// duplicate of h's fd, for example to pass in namespace.Cmd.Join so a
// command starts inside h. The caller closes both handles independently.
func (h *Handle) Namespace() (*namespace.Handle, error) {
	var nh *namespace.Handle
	err := h.control(func(fd int) error {
		var err error
		nh, err = namespace.FromFD(fd)
		if err != nil {
			return opErr("converting", h.String(), err)
		}
		return nil
	})
	return nh, err
}
