package namespace

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/nsthread"
)

// Handle is an open namespace: an O_CLOEXEC file descriptor verified with
// ioctl(NS_GET_NSTYPE). It keeps the namespace alive until Close. Every
// package speaks of namespaces through it (netns.Handle is the same type,
// always of kind NET). The descriptor is held in an *os.File and used
// through Control, so a concurrent Close cannot recycle the number under a
// call. Compare handles with Equal, never by fd number.
type Handle struct {
	f    *os.File
	kind Kind
	dev  uint64
	ino  uint64
}

// Open opens the namespace of kind k that process pid is in
// (/proc/PID/ns/NAME).
func Open(pid int, k Kind) (*Handle, error) {
	if pid <= 0 {
		return nil, &InvalidError{Pkg: "namespace", Field: "pid", Value: strconv.Itoa(pid), Reason: "must be > 0"}
	}
	if !k.Valid() {
		return nil, &InvalidError{Pkg: "namespace", Field: "Kind", Value: k.String(), Reason: "unknown namespace kind"}
	}
	h, err := OpenPath(fmt.Sprintf("/proc/%d/ns/%s", pid, k.ProcName()))
	if err != nil {
		return nil, err
	}
	if h.kind != k {
		h.Close()
		return nil, fmt.Errorf("namespace: opening %s of pid %d: got a %s namespace", k, pid, h.kind)
	}
	return h, nil
}

// Current opens the calling thread's namespace of kind k
// (/proc/thread-self/ns/NAME). Namespaces are per thread: call it on a
// locked OS thread, or inside Do, when the answer must match a later setns.
func Current(k Kind) (*Handle, error) {
	if !k.Valid() {
		return nil, &InvalidError{Pkg: "namespace", Field: "Kind", Value: k.String(), Reason: "unknown namespace kind"}
	}
	return OpenPath("/proc/thread-self/ns/" + k.ProcName())
}

// OpenPath opens a namespace file: /proc/PID/ns/NAME, or a bind mount of one
// (/run/netns/NAME). It fails with ENOTTY-wrapping error when path is not a
// namespace.
func OpenPath(path string) (*Handle, error) {
	if path == "" {
		return nil, &InvalidError{Pkg: "namespace", Field: "path", Value: path, Reason: "must not be empty"}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "opening namespace", Path: path, Err: err}
	}
	h, err := newHandle(fd, path)
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "opening namespace", Path: path, Err: err}
	}
	return h, nil
}

// New makes a new namespace of kind k that no process is in yet, and
// returns a handle that keeps it alive: join it with Do or Cmd.Join, or
// keep it under a name with Bind. The calling goroutine's thread is not
// moved (the namespace is made on a throwaway thread). k is NET, IPC, UTS,
// MNT or CGROUP: a USER namespace cannot be made by a multithreaded
// process (ErrMultithreadedUserns), and PID and TIME namespaces only take
// effect for children, so a Cmd creates those (Cmd.Namespaces).
func New(k Kind) (*Handle, error) {
	switch k {
	case NET, IPC, UTS, MNT, CGROUP:
	case USER:
		return nil, ErrMultithreadedUserns
	default:
		return nil, &InvalidError{Pkg: "namespace", Field: "Kind", Value: k.String(),
			Reason: "New makes NET, IPC, UTS, MNT or CGROUP namespaces (PID and TIME: use Cmd.Namespaces)"}
	}
	fd, err := nsthread.Unshare(int(k.CloneFlag()), k.ProcName())
	if err != nil {
		return nil, fmt.Errorf("namespace: making a %s namespace: %w", k, err)
	}
	h, err := newHandle(fd, k.ProcName())
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("namespace: making a %s namespace: %w", k, err)
	}
	return h, nil
}

func newHandle(fd int, name string) (*Handle, error) {
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return nil, fmt.Errorf("ioctl(NS_GET_NSTYPE): %w", err)
	}
	k, ok := kindFromNSType(uintptr(t))
	if !ok {
		return nil, fmt.Errorf("unknown namespace type %#x", t)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat: %w", err)
	}
	return &Handle{f: os.NewFile(uintptr(fd), name), kind: k, dev: st.Dev, ino: st.Ino}, nil
}

// Kind returns the kind of namespace h refers to, or 0 (invalid) for nil.
func (h *Handle) Kind() Kind {
	if h == nil {
		return 0
	}
	return h.kind
}

// FD returns the file descriptor, or -1 for a nil or closed handle. It
// stays owned by h: do not close it, and keep h alive (runtime.KeepAlive)
// while using it. Control is the safe way to use it while another
// goroutine may Close h.
func (h *Handle) FD() int {
	if h == nil || h.f == nil {
		return -1
	}
	return int(h.f.Fd())
}

// Control runs fn with h's file descriptor while holding a reference to
// it, so a concurrent Close cannot recycle the number under fn. It returns
// ErrClosed for a nil or closed handle, else fn's error.
func (h *Handle) Control(fn func(fd int) error) error {
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

// Bind keeps the namespace alive under path by bind-mounting it there (as
// `ip netns add` does under /run/netns): path must be an existing regular
// file. The mount outlives h; remove it with unmount(2) (netns.Delete for
// named network namespaces).
func (h *Handle) Bind(path string) error {
	return h.Control(func(fd int) error {
		src := "/proc/self/fd/" + strconv.Itoa(fd)
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return &os.PathError{Op: "bind-mounting " + h.String() + " on", Path: path, Err: err}
		}
		return nil
	})
}

// Inode returns the namespace's inode number, as shown in
// /proc/PID/ns/NAME links ("net:[4026531840]"), or 0 for nil.
func (h *Handle) Inode() uint64 {
	if h == nil {
		return 0
	}
	return h.ino
}

// Equal reports whether h and o refer to the same namespace (same device
// and inode). Two nil handles are equal.
func (h *Handle) Equal(o *Handle) bool {
	if h == nil || o == nil {
		return h == o
	}
	return h.dev == o.dev && h.ino == o.ino
}

// String returns "net:[INODE]" like the /proc link.
func (h *Handle) String() string {
	if h == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s:[%d]", h.kind.ProcName(), h.ino)
}

// Close releases the file descriptor. It is nil-safe and idempotent.
func (h *Handle) Close() error {
	if h == nil || h.f == nil {
		return nil
	}
	if err := h.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("closing namespace handle: %w", err)
	}
	return nil
}

// ErrClosed is returned for use of a nil or closed Handle.
var ErrClosed = errors.New("namespace: handle is closed")

// dupFile returns an *os.File on a duplicate of h's fd, for passing to a
// child.
func (h *Handle) dupFile() (*os.File, error) {
	var f *os.File
	err := h.Control(func(fd int) error {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("namespace: dup %s: %w", h, err)
		}
		f = os.NewFile(uintptr(nfd), h.String())
		return nil
	})
	return f, err
}
