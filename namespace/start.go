package namespace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// initCalled is set by Init. The parent calls Init too (first in main), so
// true here proves the re-executed binary will run the init as well.
var initCalled atomic.Bool

const (
	initArgv0 = "confine-init"
	envInit   = "_CONFINE_INIT_FD"
	readyByte = 'R'
)

// testHookStarted, set by tests, runs once the init has sent its ready
// byte and before it gets its config. Not earlier: exec.Cmd.Start can
// return while the kernel is still finishing the init's execve (a
// CLONE_VFORK parent resumes at the mm switch), when /proc/PID/exe may
// still name the parent's binary, as it did in 1 of 3 VM runs.
var testHookStarted func(pid int)

var errAlreadyStarted = errors.New("namespace: Cmd already started")

// Start starts the command. On a setup failure in the init it returns a
// *StepError after reaping the child; then nothing of it remains.
func (c *Cmd) Start() error { return c.start(context.Background()) }

func (c *Cmd) start(ctx context.Context) error {
	if !initCalled.Load() {
		return ErrInitNotCalled
	}
	if c.pre != nil {
		return c.startPrestarted(ctx)
	}
	if c.ecmd != nil {
		return errAlreadyStarted
	}
	if err := c.validate(); err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	if c.Sandbox != nil {
		if err := c.openRelease(); err != nil {
			return err
		}
		defer c.closeRelease()
	}
	p, err := c.forkInCgroup(cfg)
	if err != nil {
		return err
	}
	return c.send(ctx, p, cfg)
}

// forkInCgroup opens the cgroup the Cmd names (the sandbox's, when it
// enters one) and forks the init for cfg, to be born there; the Gate's
// listening socket, the init's from then on, is closed here.
func (c *Cmd) forkInCgroup(cfg *initConfig) (*prestarted, error) {
	defer c.Gate.Close() // only the init may listen on it (see Gate)
	cg, err := openCgroup(c.CgroupFD, c.CgroupPath)
	if err == nil {
		cg, err = c.enterCgroup(cg)
	}
	if err != nil {
		return nil, err
	}
	c.cgroup = cg
	c.oomBefore = cg.oomKills()
	p, err := c.fork(cfg)
	if err != nil {
		c.cgroup.close()
		return nil, err
	}
	return p, nil
}

func (c *Cmd) validate() error {
	if c.Path == "" {
		return &InvalidError{Pkg: "namespace", Field: "Path", Value: "", Reason: "must not be empty"}
	}
	return c.validateSetup()
}

// validateSetup is validate without the command.
func (c *Cmd) validateSetup() error {
	if c.Sandbox != nil {
		if err := c.validateEnter(); err != nil {
			return err
		}
	}
	if err := c.validateProcess(); err != nil {
		return err
	}
	needs := []struct {
		set   bool
		field string
		kind  Kind
	}{
		{c.Hostname != "", "Hostname", UTS},
		{c.Domainname != "", "Domainname", UTS},
		{c.Root != nil, "Root", MNT},
	}
	var joined Set
	for _, h := range c.Join {
		joined = append(joined, h.kind) // validated by validateProcess
	}
	for _, n := range needs {
		// A joined UTS namespace may be renamed, and a Root built in a
		// joined MNT namespace: they are named explicitly (a pod's, say),
		// never the caller's own by default.
		if n.set && !c.Namespaces.Has(n.kind) && !((n.kind == UTS || n.kind == MNT) && joined.Has(n.kind)) {
			return &InvalidError{Pkg: "namespace", Field: n.field, Value: n.kind.String(), Reason: "requires a new " + n.kind.String() + " namespace in Namespaces"}
		}
	}
	if c.Root != nil {
		if err := c.Root.Validate(); err != nil {
			return fmt.Errorf("namespace: Root: %w", err)
		}
	}
	if c.Capabilities != nil {
		return c.Capabilities.validate()
	}
	return nil
}

// validateProcess checks what shapes the init's process (see Prestart):
// the namespaces created and joined and the id maps.
func (c *Cmd) validateProcess() error {
	if err := c.Namespaces.Validate(); err != nil {
		return err
	}
	var joined Set
	for _, h := range c.Join {
		switch {
		case h == nil:
			return &InvalidError{Pkg: "namespace", Field: "Join", Value: "<nil>", Reason: "nil handle"}
		case h.kind == USER:
			return ErrMultithreadedUserns
		case c.Namespaces.Has(h.kind) || joined.Has(h.kind):
			return &InvalidError{Pkg: "namespace", Field: "Join", Value: h.kind.String(), Reason: "namespace kind both created and joined, or joined twice"}
		}
		joined = append(joined, h.kind)
	}
	for _, n := range []struct {
		set   bool
		field string
	}{{len(c.UIDMappings) > 0, "UIDMappings"}, {len(c.GIDMappings) > 0, "GIDMappings"}} {
		if n.set && !c.Namespaces.Has(USER) {
			return &InvalidError{Pkg: "namespace", Field: n.field, Value: USER.String(), Reason: "requires a new " + USER.String() + " namespace in Namespaces"}
		}
	}
	if err := c.validateSysctl(); err != nil {
		return err
	}
	if c.NoNewPrivileges && c.AllowNewPrivileges {
		return &InvalidError{Pkg: "namespace", Field: "AllowNewPrivileges", Value: "true", Reason: "conflicts with NoNewPrivileges"}
	}
	return c.validateLimits()
}

// validateLimits checks id maps, cgroup and rlimits.
func (c *Cmd) validateLimits() error {
	for _, m := range []struct {
		field string
		maps  []IDMap
	}{{"UIDMappings", c.UIDMappings}, {"GIDMappings", c.GIDMappings}} {
		for _, x := range m.maps {
			if x.ContainerID < 0 || x.HostID < 0 || x.Size <= 0 || int64(x.ContainerID)+int64(x.Size) > 1<<32 || int64(x.HostID)+int64(x.Size) > 1<<32 {
				return &InvalidError{Pkg: "namespace", Field: m.field, Value: fmt.Sprintf("%d %d %d", x.ContainerID, x.HostID, x.Size), Reason: "ids must be >= 0, size > 0, ranges within 32 bits"}
			}
		}
	}
	if c.CgroupFD != 0 && c.CgroupPath != "" {
		return &InvalidError{Pkg: "namespace", Field: "CgroupPath", Value: c.CgroupPath, Reason: "set CgroupFD or CgroupPath, not both"}
	}
	if c.CgroupFD < 0 {
		return &InvalidError{Pkg: "namespace", Field: "CgroupFD", Value: strconv.Itoa(c.CgroupFD), Reason: "must be an open fd or 0"}
	}
	if c.OOMScoreAdj != nil && (*c.OOMScoreAdj < -1000 || *c.OOMScoreAdj > 1000) {
		return &InvalidError{Pkg: "namespace", Field: "OOMScoreAdj", Value: strconv.Itoa(*c.OOMScoreAdj), Reason: "must be in -1000..1000"}
	}
	if c.Console != nil && (c.TTY != nil || c.Stdin != nil || c.Stdout != nil || c.Stderr != nil) {
		return &InvalidError{Pkg: "namespace", Field: "Console", Value: c.Console.Name(), Reason: "the console is the command's terminal and stdio: TTY, Stdin, Stdout and Stderr must be nil"}
	}
	if c.TTY != nil && c.Stdin != nil && c.Stdin != io.Reader(c.TTY) {
		return &InvalidError{Pkg: "namespace", Field: "Stdin", Value: fmt.Sprintf("%T", c.Stdin), Reason: "must be nil or TTY when TTY is set"}
	}
	for _, r := range c.Rlimits {
		if r.Cur > r.Max {
			return &InvalidError{Pkg: "namespace", Field: "Rlimits", Value: fmt.Sprintf("%d: %d > %d", r.Resource, r.Cur, r.Max), Reason: "soft limit above hard limit"}
		}
		if r.Resource < 0 || r.Resource >= rlimNLimits {
			return &InvalidError{Pkg: "namespace", Field: "Rlimits", Value: strconv.Itoa(r.Resource), Reason: "unknown resource"}
		}
	}
	return nil
}

// config is the init's whole config: processConfig and setupConfig.
func (c *Cmd) config() (*initConfig, error) {
	proc, err := c.processConfig()
	if err != nil {
		return nil, err
	}
	if err := c.checkSeccomp(); err != nil {
		return nil, err
	}
	return c.setupConfig(proc), nil
}

// processConfig is the part of the config fork needs: the namespaces and
// where the init finds its files.
func (c *Cmd) processConfig() (*initConfig, error) {
	cfg := &initConfig{
		Flags:       c.Namespaces.CloneFlags(),
		FirstFreeFD: 3 + len(c.ExtraFiles),
		Pdeathsig:   int(c.Pdeathsig),
	}
	for _, h := range c.Join {
		cfg.JoinMount = cfg.JoinMount || h.kind == MNT
	}
	if err := c.configGate(cfg); err != nil {
		return nil, err
	}
	if c.Console != nil {
		// After config, status, the MNT fd and the gate socket, each when
		// there.
		cfg.ConsoleFD = cfg.FirstFreeFD + 2
		if cfg.JoinMount {
			cfg.ConsoleFD++
		}
		if cfg.GateFD > 0 {
			cfg.ConsoleFD++
		}
	}
	return cfg, nil
}

// setupConfig completes the process part proc with what the init sets up.
func (c *Cmd) setupConfig(proc *initConfig) *initConfig {
	cfg := *proc
	cfg.Path, cfg.Args, cfg.Env, cfg.Dir = c.Path, c.Args, c.Env, c.Dir
	cfg.Hostname, cfg.Domainname = c.Hostname, c.Domainname
	cfg.Root, cfg.Credential, cfg.Capabilities = c.Root, c.Credential, c.Capabilities
	cfg.NoNewPrivileges, cfg.Rlimits, cfg.Sysctl = c.NoNewPrivileges, c.Rlimits, c.Sysctl
	cfg.AllowNewPrivs = c.AllowNewPrivileges
	c.configEnter(&cfg)
	if len(cfg.Args) == 0 {
		cfg.Args = []string{c.Path}
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if c.Seccomp != nil {
		cfg.Seccomp = c.Seccomp.Instructions()
	}
	return &cfg
}

// checkSeccomp refuses a filter the kernel would: empty or too long.
func (c *Cmd) checkSeccomp() error {
	if c.Seccomp == nil {
		return nil
	}
	if n := len(c.Seccomp.Instructions()); n == 0 || n > 4096 {
		return &InvalidError{Pkg: "namespace", Field: "Seccomp", Value: strconv.Itoa(n), Reason: "filter must have 1..4096 instructions"}
	}
	return nil
}

// fork re-executes the sealed copy of this binary as the init, with the
// namespaces and files cfg describes. The init then waits for its config
// on the returned pipe.
func (c *Cmd) fork(cfg *initConfig) (*prestarted, error) {
	self, err := initExe()
	if err != nil {
		return nil, err
	}
	exePath, release, err := self.execPath(cfg.FirstFreeFD + 5 + cfg.Enter.fdCount()) // config, status, MNT fd, gate, console, sandbox
	if err != nil {
		return nil, err
	}
	defer release()
	// A socket, not a pipe: stdio handed over at Start travels with the
	// config (see handover.go).
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("namespace: creating config socket: %w", err)
	}
	cfgR, cfgW := os.NewFile(uintptr(sp[0]), "config"), os.NewFile(uintptr(sp[1]), "config")
	statR, statW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, fmt.Errorf("namespace: creating status pipe: %w", err)
	}
	err = c.startInit(cfg, exePath, cfgR, statW)
	cfgR.Close()
	statW.Close()
	p := &prestarted{flags: cfg.Flags, firstFreeFD: cfg.FirstFreeFD, pdeathsig: cfg.Pdeathsig,
		joinMount: cfg.JoinMount, gateFD: cfg.GateFD, consoleFD: cfg.ConsoleFD, cfgW: cfgW, statR: statR,
		tty: c.TTY != nil}
	if c.Console != nil || c.TTY != nil {
		p.stdio = [3]bool{true, true, true} // the terminal's (Console), or as set
	}
	p.stdio[0] = p.stdio[0] || c.Stdin != nil
	p.stdio[1] = p.stdio[1] || c.Stdout != nil
	p.stdio[2] = p.stdio[2] || c.Stderr != nil
	if err != nil {
		p.close()
		c.ecmd = nil
		return nil, fmt.Errorf("namespace: starting init: %w", err)
	}
	c.Process = c.ecmd.Process
	if err := c.setOOMScoreAdj(); err != nil {
		c.abort(p)
		return nil, err
	}
	return p, nil
}

// send gives the forked init its config and waits for the status pipe to
// close (exec done) or to carry a setup error.
func (c *Cmd) send(ctx context.Context, p *prestarted, cfg *initConfig) error {
	defer p.statR.Close()
	return c.handshake(ctx, encodeConfig(cfg), p.cfgW, p.statR, p.preset != nil)
}

// abort kills and reaps the forked init before its setup.
func (c *Cmd) abort(p *prestarted) {
	p.close()
	_ = c.Process.Kill()
	c.Wait()
}

// initRuntimeEnv tunes the Go runtime of the init, a process that lives
// for a few milliseconds, allocates little and never runs two goroutines
// at once: one P (no spinning threads started for the runtime's own
// goroutines, and no reading of the cgroup CPU limit to size GOMAXPROCS),
// no garbage collection, no sampling of allocations for the memory
// profile (stack unwinds). Measured on the 2-core test host: the whole
// `confine run` used about 10% less CPU. The command's environment is
// Cmd.Env, never this.
var initRuntimeEnv = []string{"GOMAXPROCS=1", "GOGC=off", "GODEBUG=memprofilerate=0"}

// startInit forks the init with its files and namespaces.
func (c *Cmd) startInit(cfg *initConfig, exePath string, cfgR, statW *os.File) error {
	stdin, stdout, stderr, done, err := c.stdio()
	if err != nil {
		return err
	}
	defer done()
	env := append([]string{envInit + "=" + strconv.Itoa(cfg.FirstFreeFD),
		envPdeathsig + "=" + strconv.Itoa(c.initPdeathsig())}, initRuntimeEnv...)
	c.ecmd = &exec.Cmd{
		Path:        exePath,
		Args:        []string{initArgv0},
		Env:         append(env, raceInitEnv()...),
		Stdin:       stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		ExtraFiles:  append(append([]*os.File(nil), c.ExtraFiles...), cfgR, statW),
		SysProcAttr: c.sysProcAttr(cfg),
	}
	// The init enters a MNT namespace itself (see joinMount); the rest are
	// entered on the starting thread and inherited through the fork.
	var join []*Handle
	for _, h := range c.Join {
		if h.kind != MNT {
			join = append(join, h)
			continue
		}
		f, err := h.dupFile()
		if err != nil {
			return err
		}
		defer f.Close()
		c.ecmd.ExtraFiles = append(c.ecmd.ExtraFiles, f)
	}
	if c.Gate != nil {
		c.ecmd.ExtraFiles = append(c.ecmd.ExtraFiles, c.Gate.f)
	}
	if c.Console != nil {
		c.ecmd.ExtraFiles = append(c.ecmd.ExtraFiles, c.Console)
	}
	c.ecmd.ExtraFiles = append(c.ecmd.ExtraFiles, c.enterFiles()...)
	if c.initPdeathsig() != 0 {
		return c.startOnKeeper(join)
	}
	if len(join) > 0 {
		return Do(c.ecmd.Start, join...)
	}
	return c.ecmd.Start()
}

// stdio returns the init's stdin, stdout and stderr: the fields (TTY as
// stdin), a device among them reopened through a read-only mount
// (deviceGuard.guard), and for each left nil /dev/null through a
// read-only mount (see openNull), not the host's node as exec.Cmd would
// open it.
// done closes what stdio opened, once the init is forked.
func (c *Cmd) stdio() (in io.Reader, out, errw io.Writer, done func(), err error) {
	var opened []*os.File
	done = func() {
		for _, f := range opened {
			f.Close()
		}
	}
	var dg deviceGuard
	defer dg.close()
	guard := func(v any) (any, error) {
		f, ok := v.(*os.File)
		if !ok || f == nil {
			return v, nil
		}
		g, isNew, err := dg.guard(f)
		if isNew {
			opened = append(opened, g)
		}
		return g, err
	}
	in, out, errw = c.Stdin, c.Stdout, c.Stderr
	if c.TTY != nil {
		in = c.TTY // the sandbox's own terminal, made its controlling one
	} else if in != nil {
		v, err := guard(in)
		if err != nil {
			done()
			return nil, nil, nil, nil, err
		}
		in = v.(io.Reader)
	}
	for _, w := range []*io.Writer{&out, &errw} {
		if *w == nil {
			continue
		}
		v, err := guard(*w)
		if err != nil {
			done()
			return nil, nil, nil, nil, err
		}
		*w = v.(io.Writer)
	}
	if in != nil && out != nil && errw != nil {
		return in, out, errw, done, nil
	}
	r, w, err := dg.openNull()
	if err != nil {
		done()
		return nil, nil, nil, nil, err
	}
	opened = append(opened, r, w)
	if in == nil {
		in = r
	}
	if out == nil {
		out = w
	}
	if errw == nil {
		errw = w
	}
	return in, out, errw, done, nil
}

func (c *Cmd) sysProcAttr(cfg *initConfig) *syscall.SysProcAttr {
	c.pidfd = -1
	attr := &syscall.SysProcAttr{
		// The cgroup namespace is unshared by the init once it is in its
		// cgroup, so that the namespace is rooted there (see setup).
		Cloneflags:                 cfg.Flags &^ unix.CLONE_NEWCGROUP,
		UidMappings:                toSysMaps(c.UIDMappings),
		GidMappings:                toSysMaps(c.GIDMappings),
		GidMappingsEnableSetgroups: true,
		// A session of its own: no signal to confine's process group, no
		// access to the caller's terminal as a controlling terminal.
		Setsid: true,
		// Pdeathsig is armed by the init (see Init): the syscall package's
		// own check compares getppid with the parent's pid, which is 0 in
		// a new PID namespace, and would kill the child at once.
		PidFD: &c.pidfd,
	}
	if c.TTY != nil && c.Sandbox == nil { // else the command takes it (see enter.go)
		attr.Setctty, attr.Ctty = true, 0
	}
	if cfg.Flags&unix.CLONE_NEWUSER != 0 && len(c.UIDMappings) > 0 && len(c.GIDMappings) > 0 {
		// The init keeps its host uid across the mapping; unless it switches
		// to a mapped id it is "nobody" in its namespace and exec drops its
		// capabilities. The runtime switches after writing the maps.
		attr.Credential = &syscall.Credential{Uid: innerID(c.UIDMappings), Gid: innerID(c.GIDMappings), NoSetGroups: true}
	}
	if c.cgroup.fd > 0 {
		attr.UseCgroupFD, attr.CgroupFD = true, c.cgroup.fd
	}
	return attr
}

// innerID is the id the init takes in a new user namespace: 0 (root) when
// mapped, else the first mapped id.
func innerID(m []IDMap) uint32 {
	for _, x := range m {
		if x.ContainerID == 0 {
			return 0
		}
	}
	if len(m) > 0 {
		return uint32(m[0].ContainerID)
	}
	return 0
}

func toSysMaps(m []IDMap) []syscall.SysProcIDMap {
	if len(m) == 0 {
		return nil
	}
	out := make([]syscall.SysProcIDMap, len(m))
	for i, x := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: x.ContainerID, HostID: x.HostID, Size: x.Size}
	}
	return out
}

// Wait waits for the command to exit and for stdio copying to finish, then
// releases the pidfd and the cgroup reference. A non-zero exit is reported
// in State, not as an error. Wait may be called more than once.
func (c *Cmd) Wait() (*State, error) {
	if c.ecmd == nil {
		return nil, errors.New("namespace: Cmd not started")
	}
	c.waitOnce.Do(c.wait)
	return c.state, c.waitErr
}

func (c *Cmd) wait() {
	if c.pre != nil { // Prestart without Start: the init exits on EOF
		c.pre.close()
		c.pre = nil
	}
	err := c.ecmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.waitErr = fmt.Errorf("namespace: waiting for command: %w", err)
	}
	if c.handed != nil {
		if err := c.handed.wait(); err != nil && c.waitErr == nil {
			c.waitErr = fmt.Errorf("namespace: copying stdio: %w", err)
		}
	}
	if ps := c.ecmd.ProcessState; ps != nil {
		st := &State{Pid: ps.Pid(), ExitCode: ps.ExitCode()}
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.Signal = ws.Signal()
		}
		st.Rusage, _ = ps.SysUsage().(*syscall.Rusage)
		st.OOMKilled = c.cgroup.oomKills() > c.oomBefore
		c.state = st
	}
	if c.keeper != nil {
		close(c.keeper)
	}
	c.releaseRefs()
}

// releaseRefs marks c waited for and closes its pidfd and its cgroup
// reference: after Wait, and after Detach.
func (c *Cmd) releaseRefs() {
	c.mu.Lock()
	c.waited = true
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
	c.mu.Unlock()
	c.cgroup.close()
}

// Signal sends sig to the command through its pidfd, so it can never hit
// a recycled PID. After Wait it returns os.ErrProcessDone.
func (c *Cmd) Signal(sig syscall.Signal) error {
	if c.ecmd == nil {
		return errors.New("namespace: Cmd not started")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fd := c.pidfd
	if c.waited {
		return os.ErrProcessDone
	}
	if fd < 0 {
		return c.Process.Signal(sig)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return os.ErrProcessDone
		}
		return fmt.Errorf("namespace: pidfd_send_signal: %w", err)
	}
	return nil
}
