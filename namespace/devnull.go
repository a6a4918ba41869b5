package namespace

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openNull opens /dev/null for reading and for writing, for the stdio
// fields left nil (exec.Cmd would open the host's node itself). The files
// refer to the host's node through a private read-only clone of the mount
// that holds /dev (open_tree with OPEN_TREE_CLONE, then mount_setattr),
// attached nowhere and alive as long as the files: I/O works, but the
// command, which reaches the file through /proc/self/fd even in a root
// without the host's /dev, cannot change the node's mode, owner or times
// (EROFS), whatever its capabilities. A pooled init is forked with these
// for all three fields and keeps those Start does not hand over.
//
// Without mount_setattr (Linux 5.11) or the privilege to clone a mount (a
// caller without CAP_SYS_ADMIN, whose commands cannot hold more over the
// host's node than it does) the files are a plain open of /dev/null, as
// exec.Cmd's.
func openNull() (r, w *os.File, err error) {
	dir, err := readonlyDev()
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return plainNull()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("namespace: a read-only clone of /dev for /dev/null: %w", err)
	}
	defer unix.Close(dir)
	rfd, err := unix.Openat(dir, "null", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.PathError{Op: "namespace: opening", Path: "/dev/null", Err: err}
	}
	wfd, err := unix.Openat(dir, "null", unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(rfd)
		return nil, nil, &os.PathError{Op: "namespace: opening", Path: "/dev/null", Err: err}
	}
	return os.NewFile(uintptr(rfd), "/dev/null"), os.NewFile(uintptr(wfd), "/dev/null"), nil
}

// readonlyDev returns a detached clone of the mount tree at /dev, its top
// mount (the one holding null) read-only, or the error that made one
// impossible. The clone is recursive: in a user namespace the kernel
// refuses a clone that would leave out mounts it locked below /dev.
func readonlyDev() (int, error) {
	dir, err := unix.OpenTree(unix.AT_FDCWD, "/dev", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, os.NewSyscallError("open_tree", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(dir, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(dir)
		return -1, os.NewSyscallError("mount_setattr", err)
	}
	return dir, nil
}

// plainNull is openNull's fallback: the host's node, as exec.Cmd opens it.
func plainNull() (r, w *os.File, err error) {
	if r, err = os.Open(os.DevNull); err != nil {
		return nil, nil, fmt.Errorf("namespace: %w", err)
	}
	if w, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("namespace: %w", err)
	}
	return r, w, nil
}
