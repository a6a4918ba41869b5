package netns

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// Handle is an open reference to a network namespace: an O_CLOEXEC file
// descriptor on an nsfs inode, verified to be a network namespace when it
// was opened. Holding it keeps the namespace alive. Compare handles with
// Equal, never by fd number. Close releases it.
type Handle struct {
	f   *os.File
	dev uint64
	ino uint64
}

// OpenPath opens the network namespace file at path (a /run/netns entry, a
// bind mount made by another tool, or /proc/PID/ns/net).
func OpenPath(path string) (*Handle, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("opening", path, err)
	}
	h, err := newHandle(fd, path)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return h, nil
}

// OpenPid opens the network namespace of process pid.
func OpenPid(pid int) (*Handle, error) {
	if pid <= 0 {
		return nil, &ConfigError{Field: "pid", Value: strconv.Itoa(pid), Reason: "must be > 0"}
	}
	return OpenPath("/proc/" + strconv.Itoa(pid) + "/ns/net")
}

// Current opens the network namespace of the calling OS thread. Unless the
// caller has locked its goroutine to a thread it moved elsewhere, that is
// the process's network namespace.
func Current() (*Handle, error) {
	return OpenPath("/proc/thread-self/ns/net")
}

// newHandle checks that fd is a network namespace and wraps it.
func newHandle(fd int, path string) (*Handle, error) {
	if err := checkNetns(fd, path); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, opErr("inspecting", path, err)
	}
	return &Handle{f: os.NewFile(uintptr(fd), path), dev: st.Dev, ino: st.Ino}, nil
}

// checkNetns verifies with NS_GET_NSTYPE (Linux 4.11) that fd refers to a
// network namespace.
func checkNetns(fd int, path string) error {
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err == nil {
		if typ != unix.CLONE_NEWNET {
			return opErr("opening", path, fmt.Errorf("%w (namespace type %#x)", ErrNotNetns, typ))
		}
		return nil
	}
	if !errors.Is(err, unix.ENOTTY) {
		return opErr("inspecting", path, err)
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) == nil && sfs.Type == unix.NSFS_MAGIC {
		// An nsfs file that does not know the ioctl: pre-4.11 kernel.
		return internal.Unsupported("ioctl NS_GET_NSTYPE", "4.11", err)
	}
	return opErr("opening", path, ErrNotNetns)
}

// FD returns the file descriptor, or -1 for a nil or closed handle. It
// stays owned by the handle: do not close it, and keep the handle alive
// (runtime.KeepAlive) while using it.
func (h *Handle) FD() int {
	if h == nil || h.f == nil {
		return -1
	}
	return int(h.f.Fd())
}

// Equal reports whether h and o refer to the same network namespace
// (same nsfs device and inode). Nil handles are equal only to each other.
func (h *Handle) Equal(o *Handle) bool {
	if h == nil || o == nil {
		return h == o
	}
	return h.dev == o.dev && h.ino == o.ino
}

// Inode returns the namespace's inode number, the number shown by
// `ls -l /proc/self/ns/net` (net:[INODE]).
func (h *Handle) Inode() uint64 {
	if h == nil {
		return 0
	}
	return h.ino
}

// String describes the handle as "net:[INODE]", like /proc/PID/ns/net.
func (h *Handle) String() string {
	if h == nil {
		return "net:<nil>"
	}
	return "net:[" + strconv.FormatUint(h.ino, 10) + "]"
}

// Close releases the descriptor. It is safe on a nil handle and when
// called more than once.
func (h *Handle) Close() error {
	if h == nil || h.f == nil {
		return nil
	}
	err := h.f.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// control runs fn with the handle's fd while holding a reference to it, so
// a concurrent Close cannot recycle the number underneath.
func (h *Handle) control(fn func(fd int) error) error {
	if h == nil || h.f == nil {
		return ErrClosed
	}
	rc, err := h.f.SyscallConn()
	if err != nil {
		return ErrClosed
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return ErrClosed
	}
	return ferr
}
