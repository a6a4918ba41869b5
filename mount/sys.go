package mount

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// The new mount API (fsopen/fsmount/open_tree/move_mount, Linux 5.2) and
// mount_setattr (5.12) let every mount be built detached and attached
// through an fd that was resolved inside the root, so no path is looked
// up again after it was checked.

func unsupported(feature, minKernel string, err error) error {
	if errors.Is(err, unix.ENOSYS) {
		return &internal.UnsupportedError{Feature: feature, MinKernel: minKernel, Err: err}
	}
	return err
}

// withSource puts the "source" parameter first in params, unless source is
// "".
func withSource(source string, params []fsParam) []fsParam {
	if source == "" {
		return params
	}
	return append([]fsParam{{"source", source}}, params...)
}

// newFS creates a detached mount of a fresh filesystem instance.
func newFS(fstype string, params []fsParam, attrs uint64) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("fsopen "+fstype, unsupported("fsopen", "5.2", err))
	}
	defer unix.Close(fsfd)
	for _, p := range params {
		if p.Value == "" {
			err = unix.FsconfigSetFlag(fsfd, p.Key)
		} else {
			err = unix.FsconfigSetString(fsfd, p.Key, p.Value)
		}
		if err != nil {
			return -1, os.NewSyscallError("fsconfig "+fstype+" "+p.Key, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, os.NewSyscallError("fsconfig create "+fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attrs))
	if err != nil {
		return -1, os.NewSyscallError("fsmount "+fstype, err)
	}
	return mfd, nil
}

// cloneTree returns a detached copy of the mount tree at dirfd/p (p "" means
// dirfd itself), recursively when recursive.
func cloneTree(dirfd int, p string, recursive bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if p == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	fd, err := unix.OpenTree(dirfd, p, flags)
	if err != nil {
		return -1, os.NewSyscallError("open_tree", unsupported("open_tree", "5.2", err))
	}
	return fd, nil
}

// setAttr changes mount attributes of the mount fd refers to (and of every
// mount below it when recursive).
func setAttr(fd int, set, clr uint64, recursive bool) error {
	if set == 0 && clr == 0 {
		return nil
	}
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	// Clearing one atime mode requires naming the whole atime field.
	if set&unix.MOUNT_ATTR__ATIME != 0 || clr&unix.MOUNT_ATTR__ATIME != 0 {
		clr |= unix.MOUNT_ATTR__ATIME
	}
	attr := unix.MountAttr{Attr_set: set, Attr_clr: clr}
	if err := unix.MountSetattr(fd, "", flags, &attr); err != nil {
		return os.NewSyscallError("mount_setattr", unsupported("mount_setattr", "5.12", err))
	}
	return nil
}

// setPropagation sets the propagation type of the mount fd refers to, and
// of every mount below it when recursive; prop 0 leaves it as it is.
func setPropagation(fd int, prop uint64, recursive bool) error {
	if prop == 0 {
		return nil
	}
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Propagation: prop}
	if err := unix.MountSetattr(fd, "", flags, &attr); err != nil {
		return os.NewSyscallError("mount_setattr propagation", unsupported("mount_setattr", "5.12", err))
	}
	return nil
}

// attach moves the detached mount mfd onto the object targetfd refers to.
func attach(mfd, targetfd int) error {
	err := unix.MoveMount(mfd, "", targetfd, "",
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return os.NewSyscallError("move_mount", unsupported("move_mount", "5.2", err))
	}
	return nil
}

// fsMagic is the statfs f_type each filesystem type must show once mounted.
var fsMagic = map[string]int64{
	"tmpfs":   unix.TMPFS_MAGIC,
	"dev":     unix.TMPFS_MAGIC,
	"proc":    unix.PROC_SUPER_MAGIC,
	"sysfs":   unix.SYSFS_MAGIC,
	"devpts":  unix.DEVPTS_SUPER_MAGIC,
	"mqueue":  mqueueMagic,
	"cgroup2": unix.CGROUP2_SUPER_MAGIC,
}

// checkFS verifies the mount at fd is of the filesystem fstype.
func checkFS(fd int, fstype string) error {
	want, ok := fsMagic[fstype]
	if !ok {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return os.NewSyscallError("fstatfs", err)
	}
	if st.Type != want {
		return errors.New("mounted filesystem is not " + fstype)
	}
	return nil
}

// mqueueMagic is MQUEUE_MAGIC from linux/magic.h (x/sys lacks it).
const mqueueMagic = 0x19800202
