package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/namespace"
)

// `exec` starts another process in a created or running container, with
// runc's command line: the process from --process FILE (what containerd's
// shim passes, through go-runc), or the container's own process with the
// command and flags given inline. The process joins the container through
// namespace.Sandbox (opened from a pidfd of the container's init, checked
// against its recorded start time) and is born in the container's cgroup.
// Without --detach exec waits and exits with the process's status; with it
// exec writes --pid-file and returns. A failure is reported as runc does:
// "exec failed: ..." and exit status 255.
//
// An exec SIGKILLed half-way leaves nothing in the container (no process,
// no setup process, no pid file) unless Start had already handed the
// process over (see namespace.Cmd.Sandbox): then the process runs, and a
// pid file, written only after Start returned, names it if there is one.

// execOptions are exec's flags.
type execOptions struct {
	process, pidFile, consoleSocket, pidfdSocket string
	cwd, user                                    string
	detach, tty, noNewPrivs, noNewPrivsSet       bool
	env, gids, caps                              listFlag
	preserveFDs                                  int
	refused                                      []string // flags this runtime does not implement, if set
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// savedSpec is the container's config.json as create read it, kept in the
// state directory: exec takes the container's process, seccomp profile
// and defaults from it, never from the bundle again.
const savedSpec = "config.json"

func (rt *runtime) execFlags(o *execOptions) *flag.FlagSet {
	fs := rt.newFlags("exec")
	for _, n := range []string{"process", "p"} {
		fs.StringVar(&o.process, n, "", "the process to run, as an OCI process.json")
	}
	for _, n := range []string{"detach", "d"} {
		fs.BoolVar(&o.detach, n, false, "do not wait for the process")
	}
	for _, n := range []string{"tty", "t"} {
		fs.BoolVar(&o.tty, n, false, "give the process a terminal")
	}
	fs.StringVar(&o.pidFile, "pid-file", "", "write the process's pid here")
	fs.StringVar(&o.consoleSocket, "console-socket", "", "unix socket receiving the pty master")
	fs.StringVar(&o.pidfdSocket, "pidfd-socket", "", "unix socket receiving a pidfd of the process")
	fs.StringVar(&o.cwd, "cwd", "", "working directory in the container")
	for _, n := range []string{"user", "u"} {
		fs.StringVar(&o.user, n, "", "UID[:GID]")
	}
	for _, n := range []string{"env", "e"} {
		fs.Var(&o.env, n, "KEY=VALUE, repeatable")
	}
	for _, n := range []string{"additional-gids", "g"} {
		fs.Var(&o.gids, n, "additional group id, repeatable")
	}
	for _, n := range []string{"cap", "c"} {
		fs.Var(&o.caps, n, "add a capability, repeatable")
	}
	fs.BoolVar(&o.noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fs.IntVar(&o.preserveFDs, "preserve-fds", 0, "pass fds 3..3+N-1 on")
	fs.String("apparmor", "", "not supported")
	fs.String("process-label", "", "not supported")
	fs.String("cgroup", "", "not supported")
	fs.Bool("ignore-paused", false, "not supported")
	return fs
}

func (rt *runtime) cmdExec(args []string) (int, error) {
	var o execOptions
	fs := rt.execFlags(&o)
	rest, err := parseArgs(fs, args, -1, "[flags] ID COMMAND [ARG...] | --process FILE ID")
	if err != nil {
		return 0, err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "no-new-privs":
			o.noNewPrivsSet = true
		case "apparmor", "process-label", "cgroup", "ignore-paused":
			o.refused = append(o.refused, "--"+f.Name)
		}
	})
	if err := o.check(len(rest)); err != nil {
		return 0, err
	}
	code, err := rt.exec(rest[0], rest[1:], &o)
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			return 0, err
		}
		rt.errorf("exec failed: %v", err)
		return 255, nil
	}
	return code, nil
}

// check refuses flag combinations runc refuses.
func (o *execOptions) check(nargs int) error {
	switch {
	case len(o.refused) > 0:
		return &UsageError{Msg: "exec " + o.refused[0] + ": not supported by confine-runtime"}
	case o.process == "" && nargs < 2:
		return &UsageError{Msg: "exec: no command given (usage: exec ID COMMAND [ARG...], or exec --process FILE ID)"}
	case o.process != "" && nargs != 1:
		return &UsageError{Msg: "exec --process: only the container id may follow"}
	case o.preserveFDs < 0:
		return &UsageError{Msg: "exec --preserve-fds must be >= 0"}
	}
	return nil
}

// execTarget is what exec learnt about the container under its lock.
type execTarget struct {
	rec   *record
	spec  *specs.Spec
	pidfd int
}

// exec runs one process in container id; it returns the process's exit
// status (0 with --detach).
func (rt *runtime) exec(id string, args []string, o *execOptions) (int, error) {
	d, r, err := rt.open(id)
	if err != nil {
		return 0, err
	}
	phase("exec-locked")
	tgt, err := openTarget(d, r)
	if err != nil {
		d.Close()
		return 0, err
	}
	defer unix.Close(tgt.pidfd)
	phase("exec-target-opened")
	proc, err := o.processSpec(tgt.spec, args)
	if err != nil {
		d.Close()
		return 0, err
	}
	cmd, cleanup, err := rt.startExec(tgt, proc, o)
	d.Close() // a long-running process must not keep the container locked
	if err != nil {
		return 0, err
	}
	defer cleanup()
	if err := announce(cmd, o); err != nil {
		_ = cmd.Signal(unix.SIGKILL)
		cmd.Wait()
		return 0, err
	}
	if o.detach {
		if err := cmd.Detach(); err != nil {
			return 0, err
		}
		phase("exec-detached")
		return 0, nil
	}
	phase("exec-waiting")
	return waitForwarding(cmd)
}

// openTarget checks that the container can take a process (created or
// running: its init is there and not frozen) and opens a pidfd of its
// init, verified against the recorded start time.
func openTarget(d *stateDir, r *record) (*execTarget, error) {
	switch st := r.status(d.path); st {
	case specs.StateStopped:
		return nil, &StateError{ID: r.ID, Status: string(st), Op: "exec in it"}
	case "paused":
		return nil, &StateError{ID: r.ID, Status: string(st), Op: "exec in it (resume it first)"}
	}
	spec, err := loadSpec(d.path)
	if err != nil {
		return nil, fmt.Errorf("container %s: its saved config: %w", r.ID, err)
	}
	fd, err := openPidfd(r)
	if err != nil {
		return nil, err
	}
	return &execTarget{rec: r, spec: spec, pidfd: fd}, nil
}

// startExec starts the process in the container; cleanup closes what the
// start needed open while the process runs.
func (rt *runtime) startExec(tgt *execTarget, proc *specs.Process, o *execOptions) (*namespace.Cmd, func(), error) {
	p, err := execPlan(tgt.spec, proc)
	if err != nil {
		return nil, nil, err
	}
	if p.terminal && o.detach && o.consoleSocket == "" {
		return nil, nil, &UsageError{Msg: "exec: a terminal for a detached process needs --console-socket"}
	}
	if !p.terminal && o.consoleSocket != "" {
		return nil, nil, &UsageError{Msg: "exec --console-socket needs a terminal (--tty, or process.terminal)"}
	}
	sb, err := namespace.OpenSandbox(tgt.pidfd)
	if err != nil {
		return nil, nil, err
	}
	phase("exec-sandbox-opened")
	closers := []io.Closer{sb}
	cleanup := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	cmd := p.cmd
	cmd.Sandbox, cmd.CgroupPath = sb, tgt.rec.CgroupPath
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for i := 0; i < o.preserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	var proxy *os.File // our end of the console pair, when exec proxies the terminal
	if p.terminal {
		console, parent, err := execConsole(o.consoleSocket)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		closers = append(closers, console)
		if parent != nil {
			closers, proxy = append(closers, parent), parent
		}
		cmd.Console, cmd.Stdin, cmd.Stdout, cmd.Stderr = console, nil, nil, nil
	}
	if p.umask >= 0 {
		syscall.Umask(p.umask) // inherited by the process; exec creates no file itself
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cmd.StartContext(ctx); err != nil {
		cleanup()
		return nil, nil, err
	}
	phase("exec-started")
	if proxy != nil {
		stop, err := proxyTerminal(proxy)
		if err != nil {
			_ = cmd.Signal(unix.SIGKILL)
			cmd.Wait()
			cleanup()
			return nil, nil, err
		}
		closers = append([]io.Closer{closerFunc(stop)}, closers...)
	}
	return cmd, cleanup, nil
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// execConsole is the process's console: a connection to --console-socket,
// or, without one, a socket pair whose other end exec keeps to proxy the
// terminal to its own stdio (parent).
func execConsole(socket string) (console, parent *os.File, err error) {
	if socket != "" {
		c, err := dialConsole(socket)
		return c, nil, err
	}
	return namespace.ConsolePair()
}

// announce writes --pid-file and sends a pidfd of the process to
// --pidfd-socket.
func announce(cmd *namespace.Cmd, o *execOptions) error {
	if o.pidFile != "" {
		if err := writePidFile(o.pidFile, cmd.Pid()); err != nil {
			return err
		}
		phase("exec-pid-file-written")
	}
	if o.pidfdSocket != "" {
		if err := sendFD(o.pidfdSocket, "pidfd", cmd.PidFD()); err != nil {
			return fmt.Errorf("--pidfd-socket: %w", err)
		}
	}
	return nil
}

// sendFD connects to a unix socket and sends fd with name as the data, as
// runc does (go-runc's receiver reads both).
func sendFD(path, name string, fd int) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%s: not a unix socket", path)
	}
	_, _, err = uc.WriteMsgUnix([]byte(name), unix.UnixRights(fd), nil)
	return err
}

// waitForwarding forwards the signals exec receives to the process until
// it exits, and returns its status as a shell would (128+N for signal N).
func waitForwarding(cmd *namespace.Cmd) (int, error) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s != syscall.SIGWINCH {
					_ = cmd.Signal(s.(syscall.Signal))
				}
			case <-done:
				return
			}
		}
	}()
	st, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return st.ShellExitCode(), nil
}

// saveSpec keeps the container's config.json in its state directory.
func (d *stateDir) saveSpec(s *specs.Spec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.path, savedSpec), b, 0o600)
}
