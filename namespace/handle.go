package namespace

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Handle is an open namespace: an O_CLOEXEC file descriptor verified with
// ioctl(NS_GET_NSTYPE). It keeps the namespace alive until Close.
type Handle struct {
	mu   sync.Mutex
	fd   int
	kind Kind
	dev  uint64
	ino  uint64
}

// Open opens the namespace of kind k that process pid is in
// (/proc/PID/ns/NAME).
func Open(pid int, k Kind) (*Handle, error) {
	if pid <= 0 {
		return nil, &InvalidError{Field: "pid", Value: strconv.Itoa(pid), Reason: "must be > 0"}
	}
	if !k.Valid() {
		return nil, &InvalidError{Field: "Kind", Value: k.String(), Reason: "unknown namespace kind"}
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
		return nil, &InvalidError{Field: "Kind", Value: k.String(), Reason: "unknown namespace kind"}
	}
	return OpenPath("/proc/thread-self/ns/" + k.ProcName())
}

// OpenPath opens a namespace file: /proc/PID/ns/NAME, or a bind mount of one
// (/run/netns/NAME). It fails with ENOTTY-wrapping error when path is not a
// namespace.
func OpenPath(path string) (*Handle, error) {
	if path == "" {
		return nil, &InvalidError{Field: "path", Value: path, Reason: "must not be empty"}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "opening namespace", Path: path, Err: err}
	}
	h, err := newHandle(fd)
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "opening namespace", Path: path, Err: err}
	}
	return h, nil
}

func newHandle(fd int) (*Handle, error) {
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
	return &Handle{fd: fd, kind: k, dev: st.Dev, ino: st.Ino}, nil
}

// Kind returns the kind of namespace h refers to.
func (h *Handle) Kind() Kind { return h.kind }

// FD returns the file descriptor, or -1 after Close. It stays owned by h.
func (h *Handle) FD() int {
	if h == nil {
		return -1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fd
}

// Inode returns the namespace's inode number, as shown in
// /proc/PID/ns/NAME links ("net:[4026531840]").
func (h *Handle) Inode() uint64 { return h.ino }

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
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 {
		return nil
	}
	err := unix.Close(h.fd)
	h.fd = -1
	if err != nil {
		return fmt.Errorf("closing namespace handle: %w", err)
	}
	return nil
}

var errClosed = errors.New("namespace: handle is closed")

// dupFile returns an *os.File on a duplicate of h's fd, for passing to a
// child.
func (h *Handle) dupFile() (*os.File, error) {
	fd := h.FD()
	if fd < 0 {
		return nil, errClosed
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("namespace: dup %s: %w", h, err)
	}
	return os.NewFile(uintptr(nfd), h.String()), nil
}
