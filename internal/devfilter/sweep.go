package devfilter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
)

// Stale users. A cgroup removed without DetachShared (its manager was
// SIGKILLed, then something else removed the directory) leaves its entry
// cg-<id> in the shared program's directory and its link pin and marker in
// its own pin directory: the link, defunct, and the program stay pinned,
// and the program's user count never reaches zero. A sweep removes every
// device pin of such a cgroup, as DetachShared would have, and the program
// when its last user went.
//
// Stale means the cgroup is gone, which the sweep asks the kernel by id
// (bpfpin.CgroupGone). The link's cgroup id (BPF_OBJ_GET_INFO_BY_FD) is
// not the test: it is also 0 for a live cgroup whose link someone
// detached, and it stays set after rmdir while the dying cgroup is held
// (by a socket created in it, say) until the kernel releases it.
//
// Concurrency, without a lock (as the rest of this file): a sweep removes
// only pins named after an id that no longer resolves, which is safe for
// the reasons bpfpin gives (gone.go): a name cg-<id>, here a user entry
// too, is made only after AttachShared opened its cgroup, and a gone id
// stays gone. The program is unpinned exactly as Release does
// (dropIfUnused), so a sweep racing a new user has the outcome documented
// there.

// sweeper removes the device pins of removed cgroups from fs.
type sweeper struct {
	fs       bpfpin.FS
	mnt      int    // an open directory on the cgroup2 filesystem
	linkName string // the name of a cgroup's link pin (see AttachShared)
	// swept lists the ids whose pins were removed, each once.
	swept []uint64
	seen  map[uint64]bool // made by the first releaseGone
}

// newSweeper returns a sweeper resolving ids through dir, or nil when dir
// is not on a cgroup2 filesystem (see bpfpin.CgroupGone).
func newSweeper(fs bpfpin.FS, dir *os.File, linkName string) (*sweeper, error) {
	if ok, err := bpfpin.OnCgroup2(dir); err != nil || !ok {
		return nil, err
	}
	return &sweeper{fs: fs, mnt: int(dir.Fd()), linkName: linkName}, nil
}

// Sweep removes from fs the device pins of every cgroup that no longer
// exists: its link pinned as linkName in its pin directory, its entries in
// the shared programs' directories, the directory when nothing else is
// pinned there, and a shared program no user is left for. cgroupRoot is
// the cgroup2 mount point (any directory on that filesystem serves). A
// live cgroup's pins are never removed, even while it is being created or
// deleted concurrently. It returns the ids of the cgroups it cleaned up;
// a missing pin tree has nothing to sweep.
func Sweep(fs bpfpin.FS, cgroupRoot, linkName string) ([]uint64, error) {
	cg, err := bpfpin.OpenCgroup(cgroupRoot)
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	gone, err := fs.GoneIDs(cg)
	if err != nil {
		return nil, err
	}
	s := &sweeper{fs: fs, mnt: int(cg.Fd()), linkName: linkName}
	var errs []error
	for _, id := range gone {
		errs = append(errs, s.releaseGone(id, ""))
	}
	progs, err := filepath.Glob(filepath.Join(fs.Root(), sharedPrefix+"*"))
	if err != nil {
		return nil, err
	}
	for _, dir := range progs {
		errs = append(errs, s.sweepProgram(dir), dropIfUnused(dir))
	}
	return s.swept, errors.Join(errs...)
}

// sweepProgram removes the users of the shared program in dir whose
// cgroup is gone, with their other device pins (releaseGone).
func (s *sweeper) sweepProgram(dir string) error {
	users, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing shared device program users: %w", err)
	}
	var errs []error
	for _, u := range users {
		if id, ok := bpfpin.ParseDirName(u.Name()); ok && !s.done(id) && bpfpin.CgroupGone(s.mnt, id) {
			errs = append(errs, s.releaseGone(id, dir))
		}
	}
	return errors.Join(errs...)
}

// releaseGone is DetachShared for the cgroup id, which no longer exists:
// its link pin goes, its entry in every shared program's directory that
// its pin directory names and in found (an entry whose marker was never
// made), and the pin directory when nothing else is pinned there.
func (s *sweeper) releaseGone(id uint64, found string) error {
	if s.seen == nil {
		s.seen = map[uint64]bool{}
	}
	s.swept = append(s.swept, id)
	s.seen[id] = true
	dir := s.fs.DirForID(id)
	pin := filepath.Join(dir, s.linkName)
	if l, err := objGet(pin); err == nil {
		// Closed after every pin is gone: the kernel then frees the
		// link, and a program no one else holds, before the sweep
		// returns (see DetachShared). Detaching fails on a link the
		// kernel already detached from the released cgroup.
		defer unix.Close(l)
		_ = linkDetach(l)
	}
	var errs []error
	if err := unix.Unlink(pin); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, &os.PathError{Op: "unlink", Path: pin, Err: err})
	}
	if found != "" {
		errs = append(errs, releaseOne(found, id))
	}
	errs = append(errs, Release(s.fs, id, ""), s.fs.RemovePinDir(dir))
	return errors.Join(errs...)
}

// done reports whether id was swept already.
func (s *sweeper) done(id uint64) bool { return s.seen[id] }
