package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/namespace"
)

// ttySession is `confine run -t`: the command's terminal is made inside
// the sandbox (namespace.Cmd.Console: from the sandbox's own devpts, so
// `tty` works there and no terminal of the caller's is reachable), its
// master sent to confine, which copies bytes between the caller's stdio
// and the master, keeps the caller's terminal (when stdin is one) in raw
// mode until restore, and passes window-size changes (SIGWINCH) on.
type ttySession struct {
	console, receiver *os.File      // the Console socket pair
	master            *os.File      // received once the command started
	saved             *unix.Termios // the caller's terminal settings, to restore
	winch             chan os.Signal
	output            chan struct{} // closed when the master has no more output
}

// openTTY sets cmd up to get a terminal inside the sandbox.
func openTTY(cmd *namespace.Cmd) (*ttySession, error) {
	console, receiver, err := namespace.ConsolePair()
	if err != nil {
		return nil, err
	}
	s := &ttySession{console: console, receiver: receiver, output: make(chan struct{})}
	cmd.Console, cmd.Stdin, cmd.Stdout, cmd.Stderr = console, nil, nil, nil
	in := int(os.Stdin.Fd())
	if t, err := unix.IoctlGetTermios(in, unix.TCGETS); err == nil {
		s.saved = t
		raw := *t
		makeRaw(&raw)
		if err := unix.IoctlSetTermios(in, unix.TCSETS, &raw); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// makeRaw is cfmakeraw(3).
func makeRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
}

// started runs once the command runs: it receives the master the init
// sent, and the copying and SIGWINCH forwarding begin.
func (s *ttySession) started(stdout io.Writer) error {
	master, err := namespace.ReceiveConsole(s.receiver)
	if err != nil {
		close(s.output)
		return err
	}
	s.master = master
	s.resize()
	go func() {
		_, _ = io.Copy(stdout, s.master) // ends with EIO once no slave is open
		close(s.output)
	}()
	go func() { _, _ = io.Copy(s.master, os.Stdin) }()
	if s.saved != nil {
		s.winch = make(chan os.Signal, 1)
		signal.Notify(s.winch, syscall.SIGWINCH)
		go func() {
			for range s.winch {
				s.resize()
			}
		}()
	}
	return nil
}

// resize copies the caller's window size to the pty.
func (s *ttySession) resize() {
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(s.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// wait waits for the command's last output to be copied.
func (s *ttySession) wait() { <-s.output }

// close restores the caller's terminal and releases the pty; it runs on
// every exit path of the run.
func (s *ttySession) close() {
	if s == nil {
		return
	}
	if s.winch != nil {
		signal.Stop(s.winch)
		close(s.winch)
		s.winch = nil
	}
	if s.saved != nil {
		_ = unix.IoctlSetTermios(int(os.Stdin.Fd()), unix.TCSETS, s.saved)
		s.saved = nil
	}
	s.console.Close()
	s.receiver.Close()
	if s.master != nil {
		s.master.Close()
	}
}
