package namespace

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// FromFD returns a Handle on a duplicate of fd, a namespace file
// descriptor owned by someone else (another package's handle, an fd
// received over a unix socket). The duplicate is O_CLOEXEC and owned by
// the Handle; fd stays owned by the caller. It fails with an
// ENOTTY-wrapping error when fd is not a namespace.
func FromFD(fd int) (*Handle, error) {
	if fd < 0 {
		return nil, &InvalidError{Pkg: "namespace", Field: "fd", Value: strconv.Itoa(fd), Reason: "must be >= 0"}
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("namespace: dup fd %d: %w", fd, err)
	}
	h, err := newHandle(nfd, "fd "+strconv.Itoa(fd))
	if err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("namespace: fd %d: %w", fd, err)
	}
	return h, nil
}
