package namespace

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// setupConsole runs in the init, inside the finished root: it opens a pty
// from the root's /dev/ptmx, makes the slave fds 0-2 and, with ctty, the
// controlling terminal (the init leads a session of its own), and sends
// the master over the console socket at fd sock.
func setupConsole(sock int, ctty bool) error {
	master, slave, err := ptyPair()
	if err != nil {
		return err
	}
	defer unix.Close(master)
	defer unix.Close(slave)
	if ctty {
		if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
			return os.NewSyscallError("ioctl(TIOCSCTTY)", err)
		}
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
	}
	if err := unix.Sendmsg(sock, []byte{0}, unix.UnixRights(master), nil, 0); err != nil {
		return os.NewSyscallError("sendmsg(console master)", err)
	}
	return unix.Close(sock)
}

// ConsolePair returns a connected pair of unix sockets for Cmd.Console:
// give child to the Cmd, and read the terminal's master from parent with
// ReceiveConsole once Start has returned. Close both when done.
func ConsolePair() (child, parent *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console-receiver"), nil
}

// ReceiveConsole reads the terminal master that the init of a Cmd with a
// Console sent over sock (the other end of ConsolePair, or a connection
// accepted on an OCI --console-socket listener).
func ReceiveConsole(sock *os.File) (*os.File, error) {
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, unix.EAGAIN)
	}); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, os.NewSyscallError("recvmsg(console master)", rerr)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 || n == 0 {
		return nil, fmt.Errorf("namespace: no console master received (%d bytes, %d control bytes)", n, oobn)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("namespace: receiving the console master: %v", err)
	}
	// Non-blocking, so the runtime's poller serves it and a Close ends a
	// blocked Read.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-master"), nil
}
