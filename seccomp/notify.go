package seccomp

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Listener is a user notification fd (SECCOMP_FILTER_FLAG_NEW_LISTENER):
// a supervisor receives the syscalls the filter sent to it and answers
// them. Receive blocks; one goroutine should own it.
type Listener struct {
	mu sync.Mutex
	fd int
}

// NewListener wraps a listener fd received from elsewhere (for example
// over a unix socket); the Listener owns it from now on.
func NewListener(fd int) (*Listener, error) {
	if fd < 0 {
		return nil, invalid("fd", fd, "must be >= 0")
	}
	unix.CloseOnExec(fd)
	return &Listener{fd: fd}, nil
}

// FD returns the listener's fd, or -1 once closed.
func (l *Listener) FD() int {
	if l == nil {
		return -1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fd
}

// Close closes the fd; pending notifications fail with ENOSYS in the
// target. It is nil-safe and idempotent.
func (l *Listener) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return nil
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}

// Notif is a syscall waiting for an answer (struct seccomp_notif).
type Notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// Response answers a Notif: the syscall returns Val, or fails with Errno
// when it is not zero; FlagContinue lets it run in the kernel instead.
// Errno is a unix.Errno, as in ActErrno.
type Response struct {
	ID    uint64
	Val   int64
	Errno unix.Errno
	Flags uint32
}

// FlagContinue makes the target execute the syscall (Linux 5.5).
const FlagContinue = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE

type notifSizes struct{ notif, resp, data uint16 }

// sizes asks the kernel for its structure sizes, which may grow.
var sizes = sync.OnceValues(func() (notifSizes, error) {
	var s notifSizes
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_NOTIF_SIZES, 0, uintptr(unsafe.Pointer(&s)))
	if errno != 0 {
		return s, fmt.Errorf("seccomp: SECCOMP_GET_NOTIF_SIZES: %w", errno)
	}
	return s, nil
})

const (
	notifSize = 80 // struct seccomp_notif as of Linux 5.0
	respSize  = 24
)

func (l *Listener) ioctl(req uintptr, p unsafe.Pointer) error {
	fd := l.FD()
	if fd < 0 {
		return fmt.Errorf("seccomp: listener: %w", unix.EBADF)
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}

// Receive waits for the next notification. ENOENT means the target went
// away (or was interrupted) before it could be read.
func (l *Listener) Receive() (*Notif, error) {
	s, err := sizes()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, max(int(s.notif), notifSize)) // must be zeroed
	if err := l.ioctl(unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&buf[0])); err != nil {
		return nil, fmt.Errorf("seccomp: receiving notification: %w", err)
	}
	le := binary.LittleEndian
	n := &Notif{ID: le.Uint64(buf), Pid: le.Uint32(buf[8:]), Flags: le.Uint32(buf[12:]),
		Nr: int32(le.Uint32(buf[16:])), Arch: le.Uint32(buf[20:]), IP: le.Uint64(buf[24:])}
	for i := range n.Args {
		n.Args[i] = le.Uint64(buf[32+8*i:])
	}
	return n, nil
}

// Respond answers a notification. Errno and FlagContinue exclude a value.
func (l *Listener) Respond(r Response) error {
	if r.Flags&^FlagContinue != 0 {
		return invalid("Response.Flags", fmt.Sprintf("%#x", r.Flags), "unknown flag")
	}
	if r.Flags&FlagContinue != 0 && (r.Val != 0 || r.Errno != 0) {
		return invalid("Response", fmt.Sprintf("FlagContinue with Val %d, Errno %d", r.Val, r.Errno), "Val and Errno must be zero with FlagContinue")
	}
	if r.Errno > maxErrno {
		return invalid("Response.Errno", r.Errno, fmt.Sprintf("must be 0..%d", maxErrno))
	}
	s, err := sizes()
	if err != nil {
		return err
	}
	buf := make([]byte, max(int(s.resp), respSize))
	le := binary.LittleEndian
	le.PutUint64(buf, r.ID)
	le.PutUint64(buf[8:], uint64(r.Val))
	le.PutUint32(buf[16:], uint32(-int32(r.Errno))) // the kernel wants a negative errno
	le.PutUint32(buf[20:], r.Flags)
	if err := l.ioctl(unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&buf[0])); err != nil {
		return fmt.Errorf("seccomp: responding to notification %d: %w", r.ID, err)
	}
	return nil
}

// IDValid reports whether notification id is still pending: the target
// has not died or been interrupted. Check it after reading the target's
// memory and before acting on what was read (TOCTOU).
func (l *Listener) IDValid(id uint64) bool {
	return l.ioctl(unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// AddFD flags (SECCOMP_ADDFD_FLAG_*).
const (
	AddFDSetFD = unix.SECCOMP_ADDFD_FLAG_SETFD // use NewFD as the number
	AddFDSend  = unix.SECCOMP_ADDFD_FLAG_SEND  // add and respond with the fd atomically (5.14)
)

// AddFDRequest installs SrcFD (of the supervisor) into the target of
// notification ID. NewFDFlags may hold O_CLOEXEC.
type AddFDRequest struct {
	ID         uint64
	SrcFD      int
	NewFD      int
	Flags      uint32
	NewFDFlags uint32
}

// AddFD installs an fd in the target (Linux 5.9) and returns its number
// there.
func (l *Listener) AddFD(r AddFDRequest) (int, error) {
	if r.SrcFD < 0 {
		return -1, invalid("AddFDRequest.SrcFD", r.SrcFD, "must be >= 0")
	}
	if r.Flags&^uint32(AddFDSetFD|AddFDSend) != 0 {
		return -1, invalid("AddFDRequest.Flags", fmt.Sprintf("%#x", r.Flags), "unknown flag")
	}
	req := struct {
		id                          uint64
		flags, srcfd, newfd, nflags uint32
	}{r.ID, r.Flags, uint32(r.SrcFD), uint32(r.NewFD), r.NewFDFlags}
	fd := l.FD()
	if fd < 0 {
		return -1, fmt.Errorf("seccomp: listener: %w", unix.EBADF)
	}
	n, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_ADDFD, uintptr(unsafe.Pointer(&req)))
	if errno != 0 {
		return -1, fmt.Errorf("seccomp: adding fd to notification %d: %w", r.ID, errno)
	}
	return int(n), nil
}
