package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/seccomp"
)

// runSupervisor starts the child, takes its listener and answers its
// openat calls until it has exited.
func runSupervisor(ctx context.Context) error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("creating socketpair: %w", err)
	}
	defer unix.Close(pair[0])
	childEnd := os.NewFile(uintptr(pair[1]), "child-socket")
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{childEnd}
	err = cmd.Start()
	childEnd.Close()
	if err != nil {
		return fmt.Errorf("starting child: %w", err)
	}
	fmt.Printf("supervisor: started child pid %d\n", cmd.Process.Pid)
	l, err := receiveListener(pair[0])
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	fmt.Println("supervisor: received the child's listener")

	done := make(chan error, 1)
	go func() { done <- supervise(ctx, l) }()
	werr := cmd.Wait()
	if werr == nil {
		fmt.Println("supervisor: child exited with status 0")
	}
	serr := <-done // ends when the reaped child's filter has no user left
	if werr != nil {
		return fmt.Errorf("child: %w", werr)
	}
	return serr
}

// receiveListener takes the listener fd the child sends. A child that
// dies first closes its end, and the read returns 0 bytes.
func receiveListener(sock int) (*seccomp.Listener, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receiving listener: %w", err)
	}
	if n == 0 && oobn == 0 {
		return nil, errors.New("receiving listener: child exited before sending it")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receiving listener: %d control messages: %v", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, fmt.Errorf("receiving listener: %w", err)
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	if len(fds) == 0 {
		return nil, errors.New("receiving listener: no fd in the message")
	}
	return seccomp.NewListener(fds[0])
}

// supervise answers notifications until the child is gone. Closing the
// listener on the way out makes any call still waiting fail with ENOSYS
// instead of hanging the child.
func supervise(ctx context.Context, l *seccomp.Listener) error {
	defer l.Close()
	count := 0
	for {
		n, err := l.ReceiveContext(ctx)
		switch {
		case errors.Is(err, seccomp.ErrNoTargets):
			fmt.Printf("supervisor: listener hung up after %d notifications\n", count)
			return nil
		case errors.Is(err, unix.ENOENT):
			continue // the caller was interrupted before we read it
		case err != nil:
			return err
		}
		count++
		if err := answer(l, n); err != nil {
			return err
		}
	}
}
