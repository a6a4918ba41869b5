package devfilter

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
)

// Code is the device program for a rule list in the kernel's instruction
// encoding, with the identity under which it is shared.
type Code struct {
	insns []byte
	// tags are the kernel's possible tags of insns: the first bytes of
	// their SHA-1 (before Linux 6.18) or SHA-256 (the program has no map
	// references, which the kernel would zero first).
	tags [2][unix.BPF_TAG_SIZE]byte
	// Name identifies the program among the shared ones: "dev-" and 16
	// hex digits of the SHA-256 of its instructions.
	Name string
}

// Encode generates the program for rules (see Instructions) and encodes it.
func Encode(rules []Rule) (*Code, error) {
	insns, err := Instructions(rules)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		return nil, fmt.Errorf("encoding device program: %w", err)
	}
	c := &Code{insns: buf.Bytes()}
	sum1, sum256 := sha1.Sum(c.insns), sha256.Sum256(c.insns)
	copy(c.tags[0][:], sum1[:])
	copy(c.tags[1][:], sum256[:])
	c.Name = sharedPrefix + hex.EncodeToString(sum256[:8])
	return c, nil
}

// Shared programs: every cgroup given the same rules runs the same loaded
// program. It is loaded (and checked by the verifier) once, and pinned at
//
//	<fs root>/dev-<hash>/prog
//
// Each cgroup using it pins its device link a second time in that
// directory, as cg-<cgroup id>, and records the program's name as an empty
// directory dev-<hash> in its own pin directory. Release removes the
// cgroup's entry and, when no other cgroup is left in dev-<hash>, the
// program's pin and the directory. A release racing with a new user can
// only remove a pin that user has already opened or is about to replace:
// the worst outcome is one more load, never a program attached to nobody
// and left pinned.
const (
	sharedPrefix = "dev-"
	sharedProg   = "prog"
)

// AttachShared makes code's program the only device program of the
// cgroup at cgroupPath, whose id is cgID (see bpfpin.CgroupIDFromFD):
// through the bpf_link pinned at fs.DirForID(cgID)/linkName, updated in
// place when it exists, else attached and pinned. The pin directory must
// exist (bpfpin.FS.EnsureDirForID). An earlier program of the cgroup is
// released.
func AttachShared(fs bpfpin.FS, cgroupPath string, cgID uint64, code *Code, linkName string) error {
	prog, err := sharedProgram(fs, code)
	if err != nil {
		return err
	}
	defer unix.Close(prog)
	info, err := infoOf(prog)
	if err != nil {
		return err
	}
	cg, err := bpfpin.OpenCgroup(cgroupPath)
	if err != nil {
		return err
	}
	defer cg.Close()
	cgDir := fs.DirForID(cgID)
	link, updated, err := attachOrUpdate(int(cg.Fd()), prog, filepath.Join(cgDir, linkName))
	if err != nil {
		return err
	}
	defer unix.Close(link)
	sw, _ := newSweeper(fs, cg, linkName) // nil: no sweep
	if updated {
		if err := release(fs, cgID, code.Name, sw); err != nil {
			return err
		}
	}
	if err := addUser(fs, cgDir, code.Name, cgID, link); err != nil {
		return err
	}
	if err := detachAll(cg, ebpf.ProgramID(info.ID)); err != nil {
		return err
	}
	// After addUser: with this cgroup counted, the sweep cannot unpin
	// the program it uses. A failure is about other cgroups' pins, not
	// this attachment; Sweep reports it.
	if sw != nil {
		_ = sw.sweepProgram(filepath.Join(fs.Root(), code.Name))
	}
	return nil
}

// sharedProgram returns an fd of code's program: the pinned one when it is
// there and is that program (type and kernel tag), else a new load, pinned
// for the next user.
func sharedProgram(fs bpfpin.FS, code *Code) (int, error) {
	dir := filepath.Join(fs.Root(), code.Name)
	pin := filepath.Join(dir, sharedProg)
	if fd, err := objGet(pin); err == nil {
		info, err := infoOf(fd)
		if err == nil && info.Type == unix.BPF_PROG_TYPE_CGROUP_DEVICE && (info.Tag == code.tags[0] || info.Tag == code.tags[1]) {
			return fd, nil
		}
		unix.Close(fd)
		// Not the program its name says: replace the pin.
		if err := unix.Unlink(pin); err != nil && !errors.Is(err, unix.ENOENT) {
			return -1, &os.PathError{Op: "unlink", Path: pin, Err: err}
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("opening shared device program: %w", err)
	}
	fd, err := loadCode(code.insns)
	if err != nil {
		return -1, fmt.Errorf("loading device program: %w", err)
	}
	// The pin only saves the next user a load: when it cannot be made
	// (EEXIST: a concurrent start pinned the same program; ENOENT: a
	// concurrent release removed the directory again) the fd serves.
	if err := mkdirs(fs.Root(), dir); err == nil {
		_ = objPin(fd, pin)
	}
	return fd, nil
}

// attachOrUpdate points the link pinned at pin at prog, or attaches a new
// link to the cgroup open as cg and pins it. It returns the link's fd and
// whether an existing link was updated.
func attachOrUpdate(cg, prog int, pin string) (link int, updated bool, err error) {
	if l, err := objGet(pin); err == nil {
		if linkUpdate(l, prog) == nil {
			return l, true, nil
		}
		unix.Close(l)
		// A defunct link (its cgroup re-created, or detached): replace it.
		if err := unix.Unlink(pin); err != nil && !errors.Is(err, unix.ENOENT) {
			return -1, false, &os.PathError{Op: "unlinking stale device link", Path: pin, Err: err}
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return -1, false, fmt.Errorf("loading pinned device link: %w", err)
	}
	l, err := linkCreate(prog, cg)
	if err != nil {
		return -1, false, fmt.Errorf("attaching device link: %w", err)
	}
	if err := objPin(l, pin); err != nil {
		_ = linkDetach(l)
		unix.Close(l)
		return -1, false, fmt.Errorf("pinning device link: %w", err)
	}
	return l, false, nil
}

// addUser records the cgroup as a user of the shared program name: its
// link pinned in the program's directory, and the name in the cgroup's.
func addUser(fs bpfpin.FS, cgDir, name string, cgID uint64, link int) error {
	dir := filepath.Join(fs.Root(), name)
	entry := filepath.Join(dir, userName(cgID))
	err := objPin(link, entry)
	// ENOENT: a releaser removed the directory meanwhile; it can do so
	// again between the mkdir and the pin, but not forever.
	for try := 0; errors.Is(err, unix.ENOENT) && try < 8; try++ {
		if err = mkdirs(fs.Root(), dir); err == nil {
			err = objPin(link, entry)
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("recording shared device program user: %w", err)
	}
	if err := mkdirs(filepath.Join(cgDir, name)); err != nil {
		return fmt.Errorf("recording shared device program: %w", err)
	}
	return nil
}

func userName(cgID uint64) string { return "cg-" + fmt.Sprint(cgID) }

// DetachShared removes the device programs of the cgroup at cgroupPath
// (id cgID): its link pinned at fs.DirForID(cgID)/linkName is detached
// and unpinned, its use of shared programs released (see Release), and
// any other device program detached (see Detach). The link's last
// reference is dropped by closing an fd after every pin is gone, so that
// the kernel frees the link, and with it a program no other cgroup uses,
// before DetachShared returns (a dropped pin frees it later, from a work
// queue). The released programs' other users are swept as AttachShared
// does, when cgroupPath or its parent still exists.
func DetachShared(fs bpfpin.FS, cgroupPath string, cgID uint64, linkName string) error {
	pin := filepath.Join(fs.DirForID(cgID), linkName)
	if l, err := objGet(pin); err == nil {
		defer unix.Close(l)
		// Fails on a defunct link (its cgroup gone) or before Linux 5.9:
		// closing the last reference detaches it then.
		_ = linkDetach(l)
	}
	errs := []error{Detach(cgroupPath, pin)}
	var sw *sweeper
	if dir := openCgroupFS(cgroupPath); dir != nil {
		defer dir.Close()
		sw, _ = newSweeper(fs, dir, linkName)
	}
	errs = append(errs, release(fs, cgID, "", sw))
	return errors.Join(errs...)
}

// openCgroupFS opens the cgroup directory at path, or its parent when it
// was removed already, for resolving cgroup ids; nil when neither opens.
func openCgroupFS(path string) *os.File {
	for _, p := range []string{path, filepath.Dir(path)} {
		if f, err := bpfpin.OpenCgroup(p); err == nil {
			return f
		}
	}
	return nil
}

// Release ends the cgroup's use of every shared device program but keep
// (a Name, or "" for all): its entries are removed, and a program no other
// cgroup uses is unpinned with its directory. A cgroup that never used one
// has nothing to release. Release does not sweep (it knows no cgroup
// filesystem to ask); AttachShared and DetachShared do.
func Release(fs bpfpin.FS, cgID uint64, keep string) error {
	return release(fs, cgID, keep, nil)
}

// release is Release, and with a sweeper it also sweeps each released
// program's directory, after removing the cgroup's own entry: stale users
// left there would keep the program pinned after its last live user.
// Sweep failures concern other cgroups and are not returned.
func release(fs bpfpin.FS, cgID uint64, keep string, sw *sweeper) error {
	cgDir := fs.DirForID(cgID)
	names, err := os.ReadDir(cgDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing pin directory: %w", err)
	}
	var errs []error
	for _, e := range names {
		name := e.Name()
		if !strings.HasPrefix(name, sharedPrefix) || name == keep {
			continue
		}
		dir := filepath.Join(fs.Root(), name)
		if err := releaseOne(dir, cgID); err != nil {
			errs = append(errs, err)
			continue
		}
		if sw != nil {
			_ = sw.sweepProgram(dir)
		}
		if err := unix.Rmdir(filepath.Join(cgDir, name)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &os.PathError{Op: "rmdir", Path: filepath.Join(cgDir, name), Err: err})
		}
	}
	return errors.Join(errs...)
}

// releaseOne removes the cgroup's entry from the shared program directory
// dir, and the program with the directory when no user is left.
func releaseOne(dir string, cgID uint64) error {
	entry := filepath.Join(dir, userName(cgID))
	if err := unix.Unlink(entry); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: entry, Err: err}
	}
	return dropIfUnused(dir)
}

// dropIfUnused unpins the shared program in dir, and removes dir, when no
// user entry is left there.
func dropIfUnused(dir string) error {
	users, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing shared device program users: %w", err)
	}
	for _, u := range users {
		if u.Name() != sharedProg {
			return nil // still in use
		}
	}
	pin := filepath.Join(dir, sharedProg)
	if err := unix.Unlink(pin); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: pin, Err: err}
	}
	// ENOTEMPTY: a new user arrived; it re-pins the program if it needs.
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTEMPTY) {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// mkdirs creates each directory (0700) unless it exists.
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := unix.Mkdir(d, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: d, Err: err}
		}
	}
	return nil
}
