package namespace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// openNull opens /dev/null for reading and for writing, for the stdio
// fields left nil (exec.Cmd would open the host's node itself). The files
// refer to the host's node through a private read-only clone of the mount
// that holds /dev (see readonlyClone): I/O works, but the command, which
// reaches the file through /proc/self/fd even in a root without the
// host's /dev, cannot change the node's mode, owner or times (EROFS),
// whatever its capabilities. A pooled init is forked with these for all
// three fields and keeps those Start does not hand over.
//
// Without mount_setattr (Linux 5.11) or the privilege to clone a mount (a
// caller without CAP_SYS_ADMIN, whose commands cannot hold more over the
// host's node than it does) the files are a plain open of /dev/null, as
// exec.Cmd's.
func (g *deviceGuard) openNull() (r, w *os.File, err error) {
	dir, err := g.clone("/dev")
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return plainNull()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("namespace: a read-only clone of /dev for /dev/null: %w", err)
	}
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

// deviceGuard makes the read-only clones one Start's stdio is opened
// through (openNull, guard): one per directory, so that a terminal given
// as all three streams, or /dev/null beside it, costs one clone, not
// three. close releases them; files opened through a clone keep it alive.
type deviceGuard struct {
	dirs map[string]cloned
}

type cloned struct {
	fd  int
	err error
}

// clone is readonlyClone(dir), made once.
func (g *deviceGuard) clone(dir string) (int, error) {
	if c, ok := g.dirs[dir]; ok {
		return c.fd, c.err
	}
	if g.dirs == nil {
		g.dirs = make(map[string]cloned, 1)
	}
	fd, err := readonlyClone(dir)
	g.dirs[dir] = cloned{fd, err}
	return fd, err
}

func (g *deviceGuard) close() {
	for _, c := range g.dirs {
		if c.err == nil {
			unix.Close(c.fd)
		}
	}
	g.dirs = nil
}

// readonlyClone returns a detached clone of the mount tree at dir (as a
// bind mount of dir), its top mount read-only, nosuid and noexec, or the
// error that made one impossible. The clone is attached nowhere and lives
// as long as a file opened through it. It is recursive: in a user
// namespace the kernel refuses a clone that would leave out mounts it
// locked below dir.
func readonlyClone(dir string) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, os.NewSyscallError("open_tree", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("mount_setattr", err)
	}
	return fd, nil
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

// guard returns f itself, or, when f is a device node (the caller's
// terminal, /dev/null, a disk), the same device opened anew through a
// read-only clone of the directory that holds it (readonlyClone), with
// f's access mode and O_APPEND and O_NONBLOCK: the command does I/O on it
// as before, but cannot change the host node's mode, owner or times
// through /proc/self/fd (a command with CAP_FOWNER could otherwise make
// the caller's terminal writable by everyone). opened reports whether the
// file returned is a new one, for the caller to close after handing it
// over. Anything but a device, and a device whose path is gone or cannot
// be cloned (Linux 5.11, no CAP_SYS_ADMIN), is f itself.
func (g *deviceGuard) guard(f *os.File) (_ *os.File, opened bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, false, &os.PathError{Op: "namespace: fstat", Path: f.Name(), Err: err}
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
		return f, false, nil
	}
	path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !filepath.IsAbs(path) || strings.HasSuffix(path, " (deleted)") {
		return f, false, nil
	}
	dir, err := g.clone(filepath.Dir(path))
	if err != nil {
		return f, false, nil // as exec.Cmd would pass it
	}
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return nil, false, &os.PathError{Op: "namespace: fcntl", Path: f.Name(), Err: err}
	}
	fl = fl&(unix.O_ACCMODE|unix.O_APPEND|unix.O_NONBLOCK) | unix.O_NOFOLLOW | unix.O_NOCTTY | unix.O_CLOEXEC
	fd, err := unix.Openat(dir, filepath.Base(path), fl, 0)
	if err != nil {
		return f, false, nil
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Rdev != st.Rdev || now.Ino != st.Ino || now.Dev != st.Dev {
		unix.Close(fd) // renamed meanwhile: not the caller's device
		return f, false, nil
	}
	return os.NewFile(uintptr(fd), f.Name()), true, nil
}
