package bpfpin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// FSRoot is where the BPF filesystem is expected to be mounted.
const FSRoot = "/sys/fs/bpf"

// Root is the directory holding every confine pin directory.
const Root = FSRoot + "/confine"

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
func DirForID(id uint64) string {
	return filepath.Join(Root, "cg-"+strconv.FormatUint(id, 10))
}

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
func Available() error {
	var st unix.Statfs_t
	if err := unix.Statfs(FSRoot, &st); err != nil {
		return &internal.UnsupportedError{Feature: "pinning BPF objects",
			Reason: "no BPF filesystem at " + FSRoot, Err: err}
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return &internal.UnsupportedError{Feature: "pinning BPF objects",
			Reason: "no BPF filesystem mounted at " + FSRoot}
	}
	return nil
}

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
func EnsureDirForID(id uint64) (string, error) {
	if err := Available(); err != nil {
		return "", err
	}
	dir := DirForID(id)
	// Retry: a concurrent RemovePinDir may remove an empty Root between
	// the two mkdirs.
	var err error
	for range 3 {
		if err = mkdirs(Root, dir); !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	return dir, nil
}

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
func RemovePinDir(dir string) error {
	for _, d := range []string{dir, Root} {
		err := unix.Rmdir(d)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
			return nil // someone else's pins are still there
		default:
			return &os.PathError{Op: "rmdir", Path: d, Err: err}
		}
	}
	return nil
}

// Unpin removes the pinned object name in the cgroup's pin directory dir.
// A missing pin is not an error.
func Unpin(dir, name string) error {
	p := filepath.Join(dir, name)
	if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: p, Err: err}
	}
	return nil
}
