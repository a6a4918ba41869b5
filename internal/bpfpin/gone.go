package bpfpin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Pins of removed cgroups. A cgroup removed without its features' cleanup
// (its manager was SIGKILLed, then something else removed the directory)
// leaves its pin directory behind, and the pins keep the defunct links,
// their programs and maps in kernel memory for good. A sweep finds such
// directories with GoneIDs and each feature removes its own pins there,
// as its cleanup would have.
//
// Gone means the kernel no longer finds the cgroup by id (CgroupGone). It
// is a safe test without any lock, given how pin directories are made:
//   - every feature names a directory cg-<id> only after it opened (or
//     stat'ed) the cgroup, that is after mkdir activated it (an inactive
//     kernfs node is not found by path); so a name a sweep has read
//     belongs to a cgroup that was activated before the sweep asks, and a
//     failure to resolve it then means the cgroup was removed, not that
//     it is still being created (an unactivated cgroup does not resolve
//     either);
//   - a removed cgroup never resolves again and its id is not reused
//     (64-bit ids), so once gone, every pin with its name is stale for
//     good, whatever happens between the check and the unlink; the one
//     process that may still touch them, the cgroup's own manager
//     releasing it late through an fd it still holds, removes the same
//     pins and tolerates their absence.

// fileIDKernfs is FILEID_KERNFS (include/linux/exportfs.h): the handle
// type of cgroup2 files, whose 8 bytes are the kernfs node id, which is
// the cgroup id.
const fileIDKernfs = 0xfe

// OpenCgroup opens the directory at path (read-only, close-on-exec), as
// the target of cgroup BPF calls or for CgroupGone.
func OpenCgroup(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// OnCgroup2 reports whether the open directory is on a cgroup2
// filesystem; nothing can be attached to any other directory, and ids
// resolve only there.
func OnCgroup2(dir *os.File) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(dir.Fd()), &st); err != nil {
		return false, fmt.Errorf("statfs cgroup: %w", err)
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC, nil
}

// CgroupGone reports whether the cgroup with the given id was removed;
// mnt is an open directory on the cgroup2 filesystem (see OnCgroup2: on
// any other filesystem, cgroup v1 and sysfs being kernfs too with ids of
// their own, every id could look gone). open_by_handle_at finds a cgroup
// by id while it is active and fails with ESTALE once it was removed
// (checked on Linux 6.18 by TestCgroupGone). Any other failure (EPERM
// without CAP_DAC_READ_SEARCH, a filesystem without file handles) cannot
// tell and reports false: a sweep never guesses. On 32-bit hosts the id
// lacks the generation and a reused number resolves: kept too.
func CgroupGone(mnt int, id uint64) bool {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(mnt, unix.NewFileHandle(fileIDKernfs, b[:]), unix.O_PATH|unix.O_CLOEXEC)
	if err == nil {
		unix.Close(fd)
		return false
	}
	return errors.Is(err, unix.ESTALE)
}

// ParseDirName returns the cgroup id a name of the form cg-<id> (a pin
// directory, see DirForID) carries.
func ParseDirName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, "cg-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	return id, err == nil && id != 0
}

// GoneIDs lists the ids of the pin directories on f whose cgroup is gone
// (CgroupGone); mnt is an open directory on the cgroup2 filesystem, and
// any other filesystem is an error (it cannot tell). A missing confine
// root has none. Every id it returns stays gone: its pins may be removed
// at any later time.
func (f FS) GoneIDs(mnt *os.File) ([]uint64, error) {
	if ok, err := OnCgroup2(mnt); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%s is not on a cgroup2 filesystem", mnt.Name())
		}
		return nil, fmt.Errorf("resolving cgroup ids: %w", err)
	}
	ents, err := os.ReadDir(f.Root())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing pin directories: %w", err)
	}
	var gone []uint64
	for _, e := range ents {
		if id, ok := ParseDirName(e.Name()); ok && e.IsDir() && CgroupGone(int(mnt.Fd()), id) {
			gone = append(gone, id)
		}
	}
	return gone, nil
}
