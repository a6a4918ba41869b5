package bpfpin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FSRoot is where the BPF filesystem is expected to be mounted.
const FSRoot = "/sys/fs/bpf"

// Root is the directory holding every confine pin directory.
const Root = FSRoot + "/confine" // = Default.Root()

// CgroupID returns the id of the cgroup v2 directory at path: its inode
// number on the cgroup2 filesystem.
func CgroupID(cgroupPath string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(cgroupPath, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: cgroupPath, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, fmt.Errorf("cgroup path %s: not a directory", cgroupPath)
	}
	return st.Ino, nil
}

// CgroupIDFromFD returns the id of the cgroup directory open as fd (an
// O_PATH fd is enough). Unlike CgroupID it still works after the directory
// was removed, so a pin directory can be cleaned up late.
func CgroupIDFromFD(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, fmt.Errorf("cgroup fd %d: not a directory", fd)
	}
	return st.Ino, nil
}

// DirForID returns the pin directory of the cgroup with the given id. It
// does not create it.
func DirForID(id uint64) string { return Default.DirForID(id) }

// Dir returns the pin directory of the cgroup at cgroupPath without
// creating it.
func Dir(cgroupPath string) (string, error) {
	id, err := CgroupID(cgroupPath)
	if err != nil {
		return "", err
	}
	return DirForID(id), nil
}

// Available reports whether a BPF filesystem is mounted at FSRoot, as an
// *internal.UnsupportedError when it is not.
func Available() error { return Default.Available() }

// EnsureDir creates (mode 0700) and returns the pin directory of the cgroup
// at cgroupPath. It is safe to call concurrently from several features.
func EnsureDir(cgroupPath string) (string, error) {
	if err := Available(); err != nil {
		return "", err
	}
	id, err := CgroupID(cgroupPath)
	if err != nil {
		return "", err
	}
	return EnsureDirForID(id)
}

// EnsureDirForID is EnsureDir for a cgroup id (see CgroupIDFromFD).
func EnsureDirForID(id uint64) (string, error) { return Default.EnsureDirForID(id) }

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := unix.Mkdir(d, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: d, Err: err}
		}
	}
	return nil
}

// RemoveDir removes the cgroup's pin directory if it is empty. A missing
// directory, a missing BPF filesystem, or a directory still holding another
// feature's pins is not an error. It also removes Root when that became
// empty.
func RemoveDir(cgroupPath string) error {
	dir, err := Dir(cgroupPath)
	if err != nil {
		return err
	}
	return RemovePinDir(dir)
}

// RemovePinDir is RemoveDir for a pin directory returned by DirForID; use
// it when the cgroup itself may already be gone.
func RemovePinDir(dir string) error { return Default.RemovePinDir(dir) }

// Unpin removes the pinned object name in the cgroup's pin directory dir.
// A missing pin is not an error.
func Unpin(dir, name string) error {
	p := filepath.Join(dir, name)
	if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: p, Err: err}
	}
	return nil
}
