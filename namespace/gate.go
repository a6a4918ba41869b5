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
//
// Whoever connects sends one byte: gateRelease (ReleaseGate) or
// gateHandover (Detach of a Cmd with Pdeathsig). A connection that sends
// anything else, or nothing, releases nothing and is closed.
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
	if _, err := conn.Write([]byte{gateRelease}); err != nil {
		return fmt.Errorf("namespace: releasing gate %s: %w", path, err)
	}
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

// The one-byte requests on a gate connection, and the handover's answer.
const (
	gateRelease    = 'R'
	gateHandover   = 'H'
	gateHandedOver = 'h'
)

// waitGate runs in the init, on its locked main thread: it accepts
// connections on the gate fd until one asks for the release, then closes
// the listening socket (a second release is refused) and returns that
// connection, on which the init reports the exec. A handover request
// disarms the parent-death signal (a per-thread setting: this is the
// thread that armed it) and is answered on its own connection.
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
		conn := os.NewFile(uintptr(nfd), "gate")
		var req [1]byte
		if n, _ := conn.Read(req[:]); n == 1 && req[0] == gateRelease {
			return conn, nil
		} else if n == 1 && req[0] == gateHandover {
			if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err == nil {
				_, _ = conn.Write([]byte{gateHandedOver})
			}
		}
		conn.Close()
	}
}

// handoverTimeout bounds Detach's wait for the init's answer: it answers
// at once unless it is not waiting at the gate any more.
const handoverTimeout = 30 * time.Second

// handOver asks the init waiting at the gate at path to disarm its
// parent-death signal, and waits for its answer.
func handOver(path string) error {
	conn, err := net.DialTimeout("unix", path, handoverTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(handoverTimeout))
	if _, err := conn.Write([]byte{gateHandover}); err != nil {
		return err
	}
	var ans [1]byte
	if _, err := conn.Read(ans[:]); err != nil {
		return err
	}
	if ans[0] != gateHandedOver {
		return fmt.Errorf("unexpected answer %q", ans[0])
	}
	return nil
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
// A Cmd started with Pdeathsig can be detached only while it waits at its
// Gate: Detach then hands it over, asking the init to disarm the
// parent-death signal and waiting for its answer. Until then the init dies
// with the caller (or the thread that forked it), so a starter killed
// between Start and Detach leaves nothing behind; once Detach has
// returned nil, the init no longer depends on it. Should the caller die
// during Detach, the init may or may not have been handed over: record
// its pid (and cgroup) where a later cleanup finds them before calling
// Detach. A command started with Pdeathsig and without a Gate cannot be
// detached (an *InvalidError), nor one released from its gate already (an
// error matching unix.ECONNREFUSED): it keeps its Pdeathsig.
//
// Detach also needs Stdin, Stdout and Stderr nil or *os.File (a pipe
// copied by a goroutine of the caller would break when the caller exits).
func (c *Cmd) Detach() error {
	if c.ecmd == nil || c.Process == nil {
		return errors.New("namespace: Cmd not started")
	}
	if c.Pdeathsig != 0 && c.Gate == nil {
		return &InvalidError{Pkg: "namespace", Field: "Pdeathsig", Value: c.Pdeathsig.String(), Reason: "a detached command must not die with its starter: only a command waiting at its Gate can be handed over"}
	}
	for _, s := range []struct {
		field string
		v     any
	}{{"Stdin", c.Stdin}, {"Stdout", c.Stdout}, {"Stderr", c.Stderr}} {
		if _, ok := s.v.(*os.File); s.v != nil && !ok {
			return &InvalidError{Pkg: "namespace", Field: s.field, Value: fmt.Sprintf("%T", s.v), Reason: "a detached command needs nil or an *os.File"}
		}
	}
	if c.Pdeathsig != 0 {
		if err := c.handOver(); err != nil {
			return err
		}
	}
	detached := false
	c.waitOnce.Do(func() {
		detached = true
		c.waitErr = errDetached
		if c.keeper != nil {
			close(c.keeper) // handed over: the forking thread may end
		}
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

// handOver disarms the Pdeathsig of the init waiting at c's gate.
func (c *Cmd) handOver() error {
	c.mu.Lock()
	waited := c.waited
	c.mu.Unlock()
	if waited {
		return errors.New("namespace: Cmd already waited for or detached")
	}
	if err := handOver(c.Gate.path); err != nil {
		// ECONNREFUSED: released already (or dead); the command keeps
		// its Pdeathsig.
		return fmt.Errorf("namespace: handing over the init waiting at gate %s: %w", c.Gate.path, err)
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
