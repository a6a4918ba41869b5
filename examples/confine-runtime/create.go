package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/namespace"
)

// createOptions are create's (and run's) flags.
type createOptions struct {
	bundle        string
	pidFile       string
	consoleSocket string
	noPivot       bool
	noNewKeyring  bool
	preserveFDs   int
	// ungated (run only) lets the init exec as soon as its setup is done
	// when nothing must happen between create and start (see gated).
	ungated bool
}

// container is a created container still held by this process: run
// continues from it, create detaches it.
type container struct {
	dir *stateDir
	rec *record
	cmd *namespace.Cmd
}

// maxConfig bounds config.json: a runtime must not read an unbounded file.
const maxConfig = 16 << 20

func loadSpec(bundle string) (*specs.Spec, error) {
	f, err := os.Open(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle's config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	if len(b) > maxConfig {
		return nil, &ConfigError{Field: "config.json", Value: f.Name(), Reason: "larger than 16 MiB"}
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, &ConfigError{Field: "config.json", Value: f.Name(), Reason: "not valid JSON", Err: err}
	}
	return &s, nil
}

// create sets the container up to its gate: state directory, cgroup,
// namespaces, root, credentials; hooks prestart and createRuntime. The
// caller writes the pid file (announce), after handing the init over
// when it does (handOver). On any failure nothing of it remains. Without
// a gate (see gated) the process is running when create returns.
func (rt *runtime) create(id string, o createOptions) (c *container, err error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if o.noPivot {
		return nil, &UnsupportedError{Field: "--no-pivot", Value: "true", Reason: "the root is always entered with pivot_root"}
	}
	// --no-new-keyring is how confine-runtime behaves anyway: it never
	// makes a session keyring.
	bundle, err := filepath.Abs(o.bundle)
	if err != nil {
		return nil, err
	}
	spec, err := loadSpec(bundle)
	if err != nil {
		return nil, err
	}
	p, err := convert(spec, bundle, id)
	if err != nil {
		return nil, err
	}
	for _, w := range p.warnings {
		rt.warnf("%s", w)
	}
	if p.terminal && o.consoleSocket == "" {
		return nil, &UsageError{Msg: "process.terminal is set: --console-socket is required"}
	}
	if !p.terminal && o.consoleSocket != "" {
		return nil, &UsageError{Msg: "--console-socket needs process.terminal in config.json"}
	}
	dir, err := createDir(rt.root, id)
	if err != nil {
		return nil, err
	}
	phase("dir-created")
	c = &container{dir: dir, rec: &record{ID: id, Bundle: bundle, Rootfs: p.cmd.Root.Path,
		Created: time.Now().UTC(), Annotations: spec.Annotations, Hooks: p.hooks}}
	defer func() {
		if err != nil {
			c.destroy(rt)
			c = nil
		}
	}()
	if err := dir.saveSpec(spec); err != nil { // for exec
		return c, err
	}
	phase("spec-saved")
	o.ungated = o.ungated && !gated(p, o)
	if err := c.start(rt, p, o); err != nil {
		return c, err
	}
	st := c.rec.state(dir.path)
	//lint:ignore SA1019 deprecated, but engines (Docker) still send prestart hooks and runc runs them
	if err := runHooks("prestart", p.hooks.Prestart, st); err != nil {
		return c, err
	}
	if err := runHooks("createRuntime", p.hooks.CreateRuntime, st); err != nil {
		return c, err
	}
	phase("hooks-run")
	return c, nil
}

// handOver detaches the init waiting at its gate, then writes --pid-file:
// a pid file, once there, names an init that outlives this process (a
// create killed before Detach leaves an init that dies with it, and no
// pid file). On failure the container is destroyed.
func (c *container) handOver(rt *runtime, o createOptions) error {
	if err := c.cmd.Detach(); err != nil {
		c.destroy(rt)
		return err
	}
	phase("detached")
	return c.announce(rt, o)
}

// announce writes --pid-file (if asked) for the container's init; on
// failure the container is destroyed.
func (c *container) announce(rt *runtime, o createOptions) error {
	if o.pidFile == "" {
		return nil
	}
	if err := writePidFile(o.pidFile, c.rec.Pid); err != nil {
		c.destroy(rt)
		return err
	}
	phase("pid-file-written")
	return nil
}

// start records the cgroup and makes it (so that delete --force finds it
// even if this process is SIGKILLed from here on), and starts the init to
// its gate. The device program, a BPF load and the slowest part of the
// cgroup, is attached while the init's Go runtime starts up: after
// Prestart forked it and before Start sends it its config, so still
// before any of the container's setup runs.
func (c *container) start(rt *runtime, p *plan, o createOptions) error {
	res := p.resources
	devices := res.Devices
	res.Devices = nil
	if res.Network != nil {
		// The bandwidth limiter pins its programs there (delete finds
		// them by it). systemd hosts have it; a minimal node may not.
		if _, err := cgroup.MountBPFFS(); err != nil {
			return fmt.Errorf("bandwidth annotations: %w", err)
		}
	}
	cg, err := c.newCgroup(p, res)
	if err != nil {
		return err
	}
	defer cg.Close()
	phase("cgroup-created")
	cmd, closers, err := c.command(p, o, cg)
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	if err != nil {
		return err
	}
	if err := cmd.Prestart(); err != nil {
		return err
	}
	c.cmd = cmd // from here on destroy kills and reaps the init
	if devices != nil {
		if err := cg.Apply(cgroup.Resources{Devices: devices}); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", p.cgroupPath, err)
		}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	phase("init-at-gate")
	c.rec.Pid = cmd.Pid()
	c.rec.StartTime = startTime(c.rec.Pid)
	if err := c.dir.write(c.rec); err != nil {
		return err
	}
	phase("pid-recorded")
	return nil
}

// newCgroup records the container's cgroup in state.json, then makes it
// with res: a create SIGKILLed in between leaves a record naming a cgroup
// that may not exist (delete --force skips it), never a cgroup no record
// names. It is recorded only if it does not exist yet, so that delete
// never removes a cgroup create did not make (cgroup.New refuses an
// existing one).
func (c *container) newCgroup(p *plan, res cgroup.Resources) (*cgroup.Cgroup, error) {
	path, err := cgroup.Resolve(p.cgroupPath)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		c.rec.CgroupPath = path
		if err := c.dir.write(c.rec); err != nil {
			c.rec.CgroupPath = ""
			return nil, err
		}
		phase("cgroup-recorded")
	}
	cg, err := cgroup.New(path, res)
	if err != nil {
		// Not made (New removes what it made on failure), or not ours.
		c.rec.CgroupPath = ""
		return nil, fmt.Errorf("creating cgroup %s: %w", p.cgroupPath, err)
	}
	return cg, nil
}

// command completes p's Cmd with the cgroup, the namespaces to join, the
// gate, stdio, preserved fds and the console. The caller closes the
// returned files once the init is started, also on an error.
func (c *container) command(p *plan, o createOptions, cg *cgroup.Cgroup) (*namespace.Cmd, []io.Closer, error) {
	var closers []io.Closer
	cmd := p.cmd
	cmd.CgroupFD = cg.FD()
	// Until create hands the waiting init over (Detach, once its pid is
	// recorded), it dies with this process: a create killed half-way
	// leaves no init behind that no state file names. An ungated run
	// keeps it: its container dies with the runtime that waits for it.
	cmd.Pdeathsig = syscall.SIGKILL
	for _, j := range p.joins {
		h, err := namespace.OpenPath(j.path)
		if err != nil {
			return nil, closers, &ConfigError{Field: j.oci, Value: j.path, Reason: "cannot be joined", Err: err}
		}
		closers = append(closers, h)
		if h.Kind() != j.kind {
			return nil, closers, &ConfigError{Field: j.oci, Value: j.path, Reason: "is a " + h.Kind().String() + " namespace, not " + j.kind.String()}
		}
		cmd.Join = append(cmd.Join, h)
	}
	if !o.ungated {
		var err error
		if cmd.Gate, err = namespace.NewGate(c.dir.gatePath()); err != nil {
			return nil, closers, err
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for i := 0; i < o.preserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	if p.terminal {
		// The init makes the terminal inside the container, from its own
		// devpts, and sends the master straight to the listener, as
		// runc's init does.
		console, err := dialConsole(o.consoleSocket)
		if err != nil {
			return nil, closers, err
		}
		closers = append(closers, console)
		cmd.Console, cmd.Stdin, cmd.Stdout, cmd.Stderr = console, nil, nil, nil
	}
	if p.umask >= 0 {
		// Inherited by the init. What this process still creates (the
		// device program's pins, state.json) it can only make narrower.
		syscall.Umask(p.umask)
	}
	return cmd, closers, nil
}

// gated reports whether run must stop the init at the gate, as create
// does: when prestart or createRuntime hooks run between create and start,
// or a pid file is written, all before the process execs. Otherwise the
// gate would only add a round trip between the runtime and the init (a
// socket, an accept and a release) to every run. run --detach always
// gates: only an init waiting at its gate can be handed over (Detach).
func gated(p *plan, o createOptions) bool {
	//lint:ignore SA1019 deprecated, but engines (Docker) still send prestart hooks and runc runs them
	return len(p.hooks.Prestart) > 0 || len(p.hooks.CreateRuntime) > 0 || o.pidFile != ""
}

// dialConsole connects to the --console-socket listener (containerd's
// shim, `ctr`), which then receives the terminal's master over SCM_RIGHTS
// from the container's init.
func dialConsole(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("--console-socket %s: not a unix socket", path)
	}
	return uc.File()
}

// writePidFile writes pid to path whole, with nothing left beside it
// even if this process is SIGKILLed half-way: the number goes into an
// unnamed file (O_TMPFILE) in path's directory, which is then linked at
// path; a file already there is removed first (a kill in between leaves
// no pid file rather than an old one). Where the filesystem has no
// O_TMPFILE, it is written to a temporary name and renamed, which a kill
// in between leaves behind.
func writePidFile(path string, pid int) error {
	fd, err := unix.Open(filepath.Dir(path), unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) {
		return renamePidFile(path, pid)
	}
	if err != nil {
		return fmt.Errorf("--pid-file: %w", &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if _, err := f.WriteString(strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	phase("pid-file-staged")
	// The magic link (with AT_SYMLINK_FOLLOW) links an O_TMPFILE file
	// without CAP_DAC_READ_SEARCH, which AT_EMPTY_PATH needs.
	self := "/proc/self/fd/" + strconv.Itoa(fd)
	err = unix.Linkat(unix.AT_FDCWD, self, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.EEXIST) {
		if err = unix.Unlink(path); err == nil {
			err = unix.Linkat(unix.AT_FDCWD, self, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		}
	}
	if err != nil {
		return fmt.Errorf("--pid-file: %w", &os.LinkError{Op: "link", Old: self, New: path, Err: err})
	}
	return nil
}

// renamePidFile is writePidFile through a temporary name.
func renamePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	phase("pid-file-staged")
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

// destroy kills whatever runs in the container's cgroup, removes the
// cgroup and the state directory. Used on a failed create and by delete.
func (c *container) destroy(rt *runtime) {
	if c.cmd != nil {
		// Still this process's child: kill and reap it.
		_ = c.cmd.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
	if err := removeContainer(c.dir.path, c.rec); err != nil {
		rt.warnf("cleaning up %s: %v", c.rec.ID, err)
	}
	c.dir.Close()
}

// removeContainer kills the container's processes, waits for its init to
// exit, deletes its cgroup and its state directory.
func removeContainer(dir string, r *record) error {
	var errs []error
	if r.Pid > 0 {
		if fd, err := openPidfd(r); err == nil {
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			if !waitExit(fd, 30*time.Second) {
				errs = append(errs, fmt.Errorf("process %d did not exit after SIGKILL", r.Pid))
			}
			unix.Close(fd)
		}
	}
	if r.CgroupPath != "" {
		if cg, err := cgroup.Open(r.CgroupPath); err == nil {
			// Kill what is left in it (processes outside a PID namespace
			// survive their init), detach its programs, remove it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := cg.DeleteContext(ctx, cgroup.DeleteOptions{Kill: true}); err != nil {
				errs = append(errs, err)
			}
			cancel()
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
