package seccomp

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// UnsupportedError is what a Have* probe, and any operation that needs a
// feature this kernel lacks, returns: errors.As gives the feature and the
// first kernel that has it. It matches ErrNotSupported. The type is shared
// by every confine package.
type UnsupportedError = internal.UnsupportedError

var (
	haveUserNotification = internal.SyscallProbe("seccomp user notification", "5.0", true, func() error {
		var s [3]uint16 // struct seccomp_notif_sizes
		_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_NOTIF_SIZES, 0, uintptr(unsafe.Pointer(&s)))
		if errno != 0 {
			return errno
		}
		return nil
	})
	haveAddFD     = internal.VersionProbe("SECCOMP_IOCTL_NOTIF_ADDFD", "5.9")
	haveAddFDSend = internal.VersionProbe("SECCOMP_ADDFD_FLAG_SEND", "5.14")
)

// HaveUserNotification reports whether the kernel has seccomp user
// notification (SECCOMP_RET_USER_NOTIF, Linux 5.0): nil, or an
// *UnsupportedError. The result is cached.
func HaveUserNotification() error { return haveUserNotification() }

// HaveAddFD reports whether a supervisor can install fds in the notifying
// process (Linux 5.9).
func HaveAddFD() error { return haveAddFD() }

// HaveAddFDSend reports whether installing an fd can answer the
// notification in the same call (SECCOMP_ADDFD_FLAG_SEND, Linux 5.14).
func HaveAddFDSend() error { return haveAddFDSend() }
