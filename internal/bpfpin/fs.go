package bpfpin

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// FS is the mount point of a BPF filesystem holding confine's pin
// directories (FS/confine/cg-<id>). Default is the one every feature uses;
// another value (a private bpffs mount) lets tests keep their pins away
// from the host's. Its methods are the package functions of the same name
// for that mount.
type FS string

// Default is the BPF filesystem at FSRoot.
const Default FS = FSRoot

// Root returns the directory holding every confine pin directory on f.
func (f FS) Root() string { return filepath.Join(string(f), "confine") }

// DirForID returns the pin directory of the cgroup with the given id on f.
// It does not create it.
func (f FS) DirForID(id uint64) string {
	return filepath.Join(f.Root(), "cg-"+strconv.FormatUint(id, 10))
}

// Available reports whether f is a mounted BPF filesystem, as an
// *internal.UnsupportedError when it is not.
func (f FS) Available() error {
	var st unix.Statfs_t
	if err := unix.Statfs(string(f), &st); err != nil {
		return &internal.UnsupportedError{Feature: "pinning BPF objects",
			Reason: "no BPF filesystem at " + string(f), Err: err}
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return &internal.UnsupportedError{Feature: "pinning BPF objects",
			Reason: "no BPF filesystem mounted at " + string(f)}
	}
	return nil
}

// EnsureDirForID creates (mode 0700) and returns the pin directory of the
// cgroup with the given id on f (see CgroupIDFromFD). It is safe to call
// concurrently from several features.
func (f FS) EnsureDirForID(id uint64) (string, error) {
	if err := f.Available(); err != nil {
		return "", err
	}
	dir := f.DirForID(id)
	// Retry: a concurrent RemovePinDir may remove an empty root between
	// the two mkdirs.
	var err error
	for range 3 {
		if err = mkdirs(f.Root(), dir); !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	return dir, nil
}

// RemovePinDir removes the pin directory dir (from DirForID on f) and f's
// confine root when they are empty. A missing directory or one still
// holding another feature's pins is not an error.
func (f FS) RemovePinDir(dir string) error {
	for _, d := range []string{dir, f.Root()} {
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

// Mount mounts a BPF filesystem at f (mode 0700, nosuid, nodev, noexec)
// unless one is there already, and reports whether it mounted one. The
// directory must exist (/sys/fs/bpf does on every kernel with bpffs).
func (f FS) Mount() (mounted bool, err error) {
	if f.Available() == nil {
		return false, nil
	}
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("bpf", string(f), "bpf", flags, "mode=0700"); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return false, &internal.UnsupportedError{Feature: "the BPF filesystem", MinKernel: "4.4", Err: err}
		}
		return false, &os.PathError{Op: "mounting bpffs on", Path: string(f), Err: err}
	}
	return true, nil
}
