package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/namespace"
)

// proxyTerminal receives the terminal master the process's init sent over
// parent and joins it to exec's own stdio, as `runc exec -t` without a
// console socket does: exec's stdin, when it is a terminal, goes raw and
// lends its window size. stop waits until the process's side of the
// terminal is closed and everything it wrote was copied out, then
// restores exec's terminal. (The copy from stdin ends with exec itself.)
func proxyTerminal(parent *os.File) (stop func(), err error) {
	master, err := namespace.ReceiveConsole(parent)
	if err != nil {
		return nil, err
	}
	restore := rawStdin(master)
	out := make(chan struct{})
	go func() {
		_, _ = io.Copy(os.Stdout, master) // until EIO: the last holder of the slave closed it
		close(out)
	}()
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	return func() {
		<-out
		master.Close()
		restore()
	}, nil
}

// rawStdin puts exec's stdin, when it is a terminal, in raw mode (the
// process's terminal does the line editing and echo) and copies its
// window size to master; it returns what undoes the mode change.
func rawStdin(master *os.File) (restore func()) {
	old, err := unix.IoctlGetTermios(0, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag = raw.Cflag&^(unix.CSIZE|unix.PARENB) | unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(0, unix.TCSETS, &raw); err != nil {
		return func() {}
	}
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
		if rc, err := master.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
		}
	}
	return func() { _ = unix.IoctlSetTermios(0, unix.TCSETS, old) }
}
