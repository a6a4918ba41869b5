package namespace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Gate splits starting a command in two, as an OCI runtime's create and
// start do: with Cmd.Gate set, the init runs every setup step (namespaces,
// root, pivot_root, hostname, rlimits, credentials, capabilities, fds) and
// then waits at the gate, right before loading Seccomp and exec'ing the
// command; Start returns once it waits. Release (by path, from any process)
// lets it go on.
//
// A Gate is a listening unix stream socket bound at a path the caller
// chooses (keep it in a directory only the caller can reach: whoever can
// connect releases the command). The init holds its own copy of the
// listening socket, so it waits at the gate even after the starting
// process exits (see Cmd.Detach), and does not depend on the path being
// visible inside the sandbox (no /proc is needed, unlike a FIFO reopened
// through /proc/self/fd).
type Gate struct {
	f    *os.File
	path string
}

// NewGate creates the listening socket at path (mode 0600). path must not
// exist; a stale socket is the caller's to remove.
func NewGate(path string) (*Gate, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("namespace: creating gate socket: %w", err)
	}
	// bind makes the inode with the umask's mode; nobody can connect
	// before listen, so it is made 0600 in between.
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "namespace: binding gate", Path: path, Err: err}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("namespace: gate: %w", err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, &os.PathError{Op: "namespace: listening on gate", Path: path, Err: err}
	}
	return &Gate{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Path returns the socket's path.
func (g *Gate) Path() string { return g.path }

// Close closes the caller's copy of the socket (Start does it); an init
// started with it keeps waiting on its own copy. It does not remove the
// path. Close is nil-safe and idempotent.
func (g *Gate) Close() error {
	if g == nil || g.f == nil {
		return nil
	}
	err := g.f.Close()
	g.f = nil
	return err
}

// ReleaseGate releases the command waiting at the gate bound at path and
// waits until it has exec'd: nil then. When loading the seccomp filter or
// execve fails, it returns that *StepError (the init then exits with 125);
// when the init died before or while being released, a *StepError with an
// *InitDiedError. ctx bounds the wait for exec (an error wrapping
// ctx.Err(); the command may still exec later). A path nothing listens on
// anymore (released before, or the init gone) fails with an error
// matching unix.ECONNREFUSED or unix.ENOENT.
func ReleaseGate(ctx context.Context, path string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("namespace: releasing gate: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	// The init writes the ready byte and "X" right before exec, then
	// either nothing (the connection is close-on-exec: EOF means exec'd)
	// or the error of the failed step.
	rep, rerr := readStatus(bufio.NewReader(conn))
	if ctx.Err() != nil {
		return fmt.Errorf("namespace: releasing gate %s: %w", path, ctx.Err())
	}
	if rerr != nil {
		return rerr
	}
	if !rep.ready {
		return &StepError{Pkg: "namespace", Step: StepExec, Err: &InitDiedError{ExitCode: -1}}
	}
	return rep.err(nil)
}

// waitGate runs in the init: it accepts one connection on the gate fd,
// closes the listening socket (a second release is refused) and returns
// the connection, on which the init reports the exec.
func waitGate(fd int) (*os.File, error) {
	defer unix.Close(fd)
	for {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("accept on gate: %w", err)
		}
		return os.NewFile(uintptr(nfd), "gate"), nil
	}
}

// passGate reports the exec on the gate connection: the same records as
// the status pipe (ready byte, "X" right before seccomp and execve, an
// error line on failure).
func passGate(gateFD int) (*os.File, error) {
	conn, err := waitGate(gateFD)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte{readyByte, recExec, '\n'}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Detach lets the started command outlive the caller: it releases the
// pidfd, the cgroup reference and the os.Process, without waiting. The
// command is then no longer c's (Wait and Signal report that); when the
// caller exits it is reparented to the nearest subreaper or to PID 1,
// which reaps it. Pid still returns its pid: find it again by it
// (namespace.Open, pidfd_open).
//
// Detach needs a Cmd started without Pdeathsig (the parent-death signal
// would kill the command when the caller exits) and with Stdin, Stdout and
// Stderr nil or *os.File (a pipe copied by a goroutine of the caller would
// break when the caller exits).
func (c *Cmd) Detach() error {
	if c.ecmd == nil || c.Process == nil {
		return errors.New("namespace: Cmd not started")
	}
	if c.Pdeathsig != 0 {
		return &InvalidError{Pkg: "namespace", Field: "Pdeathsig", Value: c.Pdeathsig.String(), Reason: "a detached command must not die with its starter"}
	}
	for _, s := range []struct {
		field string
		v     any
	}{{"Stdin", c.Stdin}, {"Stdout", c.Stdout}, {"Stderr", c.Stderr}} {
		if _, ok := s.v.(*os.File); s.v != nil && !ok {
			return &InvalidError{Pkg: "namespace", Field: s.field, Value: fmt.Sprintf("%T", s.v), Reason: "a detached command needs nil or an *os.File"}
		}
	}
	detached := false
	c.waitOnce.Do(func() {
		detached = true
		c.waitErr = errDetached
		c.releaseRefs()
		pid := c.Process.Pid
		_ = c.Process.Release() // sets Pid to -1; Pid() must keep working
		c.Process.Pid = pid
	})
	if !detached {
		return errors.New("namespace: Cmd already waited for or detached")
	}
	return nil
}

// errDetached is what Wait returns after Detach.
var errDetached = errors.New("namespace: Cmd detached; it is no longer the caller's to wait for")

// configGate sets the Gate's fd number in the init: after ExtraFiles, the
// config and status pipes and the MNT namespace fd (when one is joined).
func (c *Cmd) configGate(cfg *initConfig) error {
	switch {
	case c.Gate == nil:
		return nil
	case c.Gate.f == nil:
		return &InvalidError{Pkg: "namespace", Field: "Gate", Value: c.Gate.path, Reason: "gate is closed"}
	case cfg.JoinMount:
		cfg.GateFD = cfg.FirstFreeFD + 3
	default:
		cfg.GateFD = cfg.FirstFreeFD + 2
	}
	return nil
}
