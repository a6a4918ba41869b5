package mount

import (
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// UnsupportedError is what a Have* probe, and any operation that needs a
// feature this kernel lacks, returns: errors.As gives the feature and the
// first kernel that has it. It matches ErrNotSupported. The type is shared
// by every confine package.
type UnsupportedError = internal.UnsupportedError

var (
	haveNewMountAPI = internal.SyscallProbe("the new mount API (fsopen, fsmount, open_tree, move_mount)", "5.2", false,
		func() error {
			fd, err := unix.Fsopen("confine-probe-no-such-fs", unix.FSOPEN_CLOEXEC)
			if err == nil {
				unix.Close(fd)
			}
			return err // ENODEV (or EPERM unprivileged): the call exists
		})
	haveMountSetattr = internal.SyscallProbe("mount_setattr", "5.12", false, func() error {
		return unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{}) // EBADF
	})
	haveOpenat2 = internal.SyscallProbe("openat2 RESOLVE_IN_ROOT", "5.6", false, func() error {
		fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
		if err == nil {
			unix.Close(fd)
		}
		return err
	})
)

// HaveNewMountAPI reports whether the kernel has fsopen, fsmount, open_tree
// and move_mount (Linux 5.2), which Root.Setup needs: nil, or an
// *UnsupportedError. The result is cached.
func HaveNewMountAPI() error { return haveNewMountAPI() }

// HaveMountSetattr reports whether the kernel has mount_setattr (Linux
// 5.12), which recursive read-only mounts need.
func HaveMountSetattr() error { return haveMountSetattr() }

// HaveOpenat2 reports whether the kernel has openat2 with RESOLVE_IN_ROOT
// (Linux 5.6). Without it targets are resolved inside the root component
// by component, as safely but more slowly; it is not required.
func HaveOpenat2() error { return haveOpenat2() }
