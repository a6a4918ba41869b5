package cgroup

import (
	"encoding/binary"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// eventFD wakes a goroutine blocked in poll(2)/epoll_wait(2). signal and
// Close exclude each other, so a late signal (from a context.AfterFunc
// that already started) never writes to a closed, possibly reused, fd.
type eventFD struct {
	mu sync.Mutex
	fd int // -1 once closed
}

func newEventFD() (*eventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	return &eventFD{fd: fd}, nil
}

// signal makes the fd readable; a no-op after Close.
func (e *eventFD) signal() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fd >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(e.fd, one[:])
	}
}

// Close closes the fd; idempotent.
func (e *eventFD) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fd < 0 {
		return nil
	}
	err := unix.Close(e.fd)
	e.fd = -1
	return err
}
