package namespace

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenPTY opens a new pseudo-terminal pair: master stays with the caller
// (non-blocking, so a Close ends a blocked Read), slave is for Cmd.TTY
// (and Stdout/Stderr). Both are O_CLOEXEC and O_NOCTTY: opening them does
// not make either the caller's controlling terminal. The slave is
// obtained from the master with TIOCGPTPEER (Linux 4.13), never by path.
// Close both; the slave may be closed as soon as Start returned.
func OpenPTY() (master, slave *os.File, err error) {
	mfd, sfd, err := ptyPair()
	if err != nil {
		return nil, nil, err
	}
	if err := unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		unix.Close(sfd)
		return nil, nil, fmt.Errorf("namespace: pty master: %w", err)
	}
	return os.NewFile(uintptr(mfd), "/dev/ptmx"), os.NewFile(uintptr(sfd), "pty-slave"), nil
}

// ptyPair opens /dev/ptmx (the one of the calling process's mount
// namespace and root), unlocks it and opens its slave through
// TIOCGPTPEER; both fds are O_CLOEXEC and O_NOCTTY. Inside a sandbox
// /dev/ptmx is the sandbox's file: it is opened without following
// /proc magic links and must be the ptmx device (5:2), or a *FileError
// says what it was.
func ptyPair() (master, slave int, err error) {
	mfd, err := unix.Openat2(unix.AT_FDCWD, "/dev/ptmx", &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, -1, &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(mfd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(5, 2) {
		unix.Close(mfd)
		return -1, -1, &FileError{Path: "/dev/ptmx", Reason: fmt.Sprintf("not the ptmx device 5:2 (mode %#o, device %d:%d)", st.Mode&unix.S_IFMT, unix.Major(st.Rdev), unix.Minor(st.Rdev))}
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return -1, -1, fmt.Errorf("namespace: unlocking pty: %w", err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER,
		unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(mfd)
		return -1, -1, fmt.Errorf("namespace: opening pty slave (TIOCGPTPEER): %w", errno)
	}
	return mfd, int(sfd), nil
}
