package seccomp

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrNoTargets is returned by ReceiveContext when no task uses the filter
// any more (every target exited and was reaped), so no notification can
// ever arrive. The kernel reports this as POLLHUP on the listener since
// Linux 5.8; on older kernels ReceiveContext waits until ctx ends.
var ErrNoTargets = errors.New("seccomp: no task uses the filter any more")

// ReceiveContext is Receive bounded by ctx: it waits with poll(2) on the
// listener and on an eventfd that ctx's cancellation writes to, and only
// then reads the notification, so a cancelled wait never leaves a
// blocked ioctl behind. It returns ctx.Err() (wrapped) when ctx ends first
// and ErrNoTargets once every target has exited and been reaped.
//
// Close does not wake a waiting ReceiveContext; cancel ctx for that. As
// with Receive, one goroutine should own the listener: when two receive
// at once, the one that loses the race for a notification blocks in the
// kernel until the next one.
func (l *Listener) ReceiveContext(ctx context.Context) (*Notif, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("seccomp: receiving notification: %w", err)
	}
	if err := l.waitReadable(ctx); err != nil {
		return nil, err
	}
	return l.Receive()
}

// waitReadable returns nil once a notification is pending.
func (l *Listener) waitReadable(ctx context.Context) error {
	fd := l.FD()
	if fd < 0 {
		return fmt.Errorf("seccomp: listener: %w", unix.EBADF)
	}
	// An eventfd rather than a poll timeout: cancellation wakes poll at
	// once, and deadlines come for free through ctx.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("seccomp: creating eventfd: %w", err)
	}
	defer unix.Close(efd)
	written := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		close(written)
	})
	// The eventfd number must not be closed (and maybe reused) before a
	// started AfterFunc has written to it.
	defer func() {
		if !stop() {
			<-written
		}
	}()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("seccomp: polling listener: %w", err)
		}
		switch {
		case fds[0].Revents&unix.POLLIN != 0:
			return nil
		case fds[1].Revents != 0:
			return fmt.Errorf("seccomp: receiving notification: %w", ctx.Err())
		case fds[0].Revents&unix.POLLHUP != 0:
			return ErrNoTargets
		case fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0:
			return fmt.Errorf("seccomp: polling listener: revents %#x: %w", fds[0].Revents, unix.EBADF)
		}
	}
}
