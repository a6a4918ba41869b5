package namespace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A Cmd with a Sandbox runs in two processes, so that nothing of the
// caller is ever visible inside the sandbox:
//
//   - the init, forked by the caller into the sandbox's cgroup (and its
//     NET, IPC, UTS and CGROUP namespaces) but in the caller's PID
//     namespace, which no process in the sandbox can name or signal. It
//     makes itself non-dumpable first, joins the sandbox's MNT namespace
//     on its thread (root and working directory inside the sandbox from
//     then on), sets the PID namespace for its children, makes the
//     console, changes directory, looks the command up, marks every
//     other fd close-on-exec, drops to the command's limits, credentials
//     and capabilities (unless USER or TIME remain to be joined), and
//     forks:
//   - the command, with CLONE_PARENT, so it is the caller's child (Wait,
//     Signal and PidFD work as for any Cmd) and the only process that
//     appears in the sandbox. It is a copy of the init's thread, so it
//     is non-dumpable from birth until execve and has no more than its
//     own privileges; it runs raw system calls only (see child.go): a
//     session, its terminal, the sandbox's TIME and USER namespaces
//     (which a multithreaded process cannot join) and then the limits,
//     credentials and capabilities the init could not drop for it,
//     the release (below), Seccomp, execve.
//
// The init reports the command's pid ("P" record) as soon as it is
// forked, then "X" once it has exec'd, and exits. On "P" the caller takes
// the command (adoptEntered) and releases it: one byte on a pipe that
// only the caller can write to. The init dies with the caller
// (initPdeathsig), and a command whose caller died before the release
// reads EOF and exits without exec'ing, so that nothing set up by a
// caller killed mid-Start goes on in the sandbox.

// enterConfig is the part of initConfig for a Cmd with a Sandbox.
type enterConfig struct {
	NSFDs     []int    // the sandbox's namespaces, in join order (allKinds)
	ReleaseFD int      // the command waits for Start's byte here before execve (see adoptEntered)
	HoldFD    int      // tests: the command waits for a byte here before execve; 0: none
	Rlimits   []Rlimit // every limit the command starts with
	Ctty      bool     // fd 0 becomes the controlling terminal of the command's session
}

// fdCount is how many fds beyond the console the init receives.
func (e *enterConfig) fdCount() int {
	if e == nil {
		return 0
	}
	n := len(e.NSFDs) + 1 // and the release pipe
	if e.HoldFD > 0 {
		n++
	}
	return n
}

// ErrSandboxFrozen is matched by the *StepError Start returns when the
// cgroup the command would be born in is frozen (a paused container):
// the command could not run, and Start would wait for it forever.
var ErrSandboxFrozen = errors.New("namespace: the sandbox's cgroup is frozen")

// validateEnter refuses fields that create or join namespaces themselves:
// a command entering a sandbox takes the sandbox's.
func (c *Cmd) validateEnter() error {
	if c.Sandbox.pidfd == nil {
		return &InvalidError{Pkg: "namespace", Field: "Sandbox", Value: "<closed>", Reason: "the sandbox is closed"}
	}
	for _, f := range []struct {
		set   bool
		field string
	}{
		{len(c.Namespaces) > 0, "Namespaces"}, {len(c.Join) > 0, "Join"}, {c.Root != nil, "Root"},
		{c.Hostname != "", "Hostname"}, {c.Domainname != "", "Domainname"},
		{len(c.UIDMappings) > 0, "UIDMappings"}, {len(c.GIDMappings) > 0, "GIDMappings"},
		{c.Gate != nil, "Gate"},
	} {
		if f.set {
			return &InvalidError{Pkg: "namespace", Field: f.field, Value: "set",
				Reason: "a command entering a Sandbox takes the sandbox's namespaces and root: leave it empty"}
		}
	}
	return nil
}

// configEnter fills cfg.Enter: the fd numbers of the sandbox's namespaces
// in the init (after the config, status and console fds), the limits
// (the sandbox process's, overridden by Rlimits) and the directory ("/"
// of the sandbox by default).
func (c *Cmd) configEnter(cfg *initConfig) {
	if c.Sandbox == nil {
		return
	}
	e := &enterConfig{Ctty: c.TTY != nil || c.Console != nil}
	next := cfg.FirstFreeFD + 2
	if cfg.ConsoleFD > 0 {
		next = cfg.ConsoleFD + 1
	}
	for range c.Sandbox.ns {
		e.NSFDs = append(e.NSFDs, next)
		next++
	}
	e.ReleaseFD = next
	next++
	if c.testHold != nil {
		e.HoldFD = next
	}
	for r, l := range c.Sandbox.limits {
		e.Rlimits = append(e.Rlimits, Rlimit{Resource: r, Cur: l.Cur, Max: l.Max})
	}
	for _, r := range c.Rlimits {
		e.Rlimits[r.Resource] = r // validated: 0 <= Resource < rlimNLimits
	}
	cfg.Rlimits = nil
	if cfg.Dir == "" {
		cfg.Dir = "/"
	}
	cfg.Enter = e
}

// enterFiles are the files the init gets for configEnter's fd numbers.
// The handles stay the Sandbox's: exec duplicates them into the init.
func (c *Cmd) enterFiles() []*os.File {
	if c.Sandbox == nil {
		return nil
	}
	var fs []*os.File
	for _, h := range c.Sandbox.ns {
		fs = append(fs, h.f)
	}
	fs = append(fs, c.releaseR)
	if c.testHold != nil {
		fs = append(fs, c.testHold)
	}
	return fs
}

// enterCgroup checks, right before the fork, that the sandbox still runs
// and that the command's cgroup is not frozen, and makes the sandbox's
// cgroup the command's unless CgroupFD or CgroupPath named one. It
// closes cg on failure.
func (c *Cmd) enterCgroup(cg cgroupRef) (cgroupRef, error) {
	if c.Sandbox == nil {
		return cg, nil
	}
	if err := c.Sandbox.alive(); err != nil {
		cg.close()
		return cgroupRef{}, err
	}
	path := c.CgroupPath
	if cg.fd == 0 && c.Sandbox.cgroup != nil {
		cg, path = cgroupRef{fd: int(c.Sandbox.cgroup.Fd())}, c.Sandbox.cgPath
	}
	if cg.fd > 0 && cgroupFrozen(cg.fd) {
		cg.close()
		return cgroupRef{}, &StepError{Pkg: "namespace", Step: StepJoin, Path: path, Err: ErrSandboxFrozen}
	}
	return cg, nil
}

// cgroupFrozen reports whether the cgroup is frozen or being frozen: its
// own cgroup.freeze is "1", or cgroup.events says "frozen 1" (an
// ancestor's freeze). Freezing is asynchronous, so events alone would
// miss a freeze that just began. Missing files (the root cgroup, kernels
// before 5.2) count as not frozen.
func cgroupFrozen(dirfd int) bool {
	if b, err := readAt(dirfd, "cgroup.freeze", 64); err == nil && bytes.Equal(bytes.TrimSpace(b), []byte("1")) {
		return true
	}
	b, err := readAt(dirfd, "cgroup.events", 4096)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if sc.Text() == "frozen 1" {
			return true
		}
	}
	return false
}

// initPdeathsig is the parent-death signal of the init: Pdeathsig, and
// always SIGKILL for a command entering a Sandbox. That init is never
// handed over (it exits once the command runs), and one whose caller died
// must not go on inside the sandbox with the caller's privileges; the
// command's own Pdeathsig, if any, is set by the command.
func (c *Cmd) initPdeathsig() int {
	if c.Sandbox != nil {
		return int(unix.SIGKILL)
	}
	return int(c.Pdeathsig)
}

// openRelease makes the release pipe of a Cmd with a Sandbox: the read
// end goes to the init (and so to the command), the write end, close-on-
// exec, stays in this process alone.
func (c *Cmd) openRelease() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("namespace: creating release pipe: %w", err)
	}
	c.releaseR, c.releaseW, c.enteredFD, c.adoptErr = r, w, -1, nil
	return nil
}

// closeRelease closes what is left of the release pipe; a command still
// waiting for its byte then reads EOF and exits without running.
func (c *Cmd) closeRelease() {
	for _, f := range []**os.File{&c.releaseR, &c.releaseW} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

// adoptEntered runs when the init reports the command's pid, while the
// command waits before execve: Start takes it (a pidfd; it is the
// caller's unreaped child since the init forked it with CLONE_PARENT, so
// its pid cannot have been recycled) and then sends it the release byte.
// That byte is the hand-over: a caller that dies before it leaves nothing
// in the sandbox (the command reads EOF and exits, the init gets its
// parent-death signal); from it on the command runs whatever happens to
// the caller.
func (c *Cmd) adoptEntered(pid int) {
	if c.releaseW == nil || pid <= 0 {
		return // one command per init
	}
	if testHookEntered != nil {
		testHookEntered("forked", c.Process.Pid, pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		c.adoptErr = fmt.Errorf("namespace: pidfd_open(%d): %w", pid, err)
		c.closeRelease()
		return
	}
	c.enteredFD = fd
	// A failed write means the command is gone already: the status pipe
	// says why.
	_, _ = c.releaseW.Write([]byte{'R'})
	c.closeRelease()
	if testHookEntered != nil {
		testHookEntered("released", c.Process.Pid, pid)
	}
}

// testHookEntered, set by tests, runs when Start has learnt the pid of
// the command a Cmd with a Sandbox forked ("forked"), and again once it
// has released that command ("released").
var testHookEntered func(step string, initPid, pid int)

// settleEntered ends the start of a Cmd with a Sandbox: on success (ok)
// the command, adopted by adoptEntered, becomes the process c tracks
// (Process, PidFD, Wait) and the init, which exits after its report, is
// reaped; otherwise a command the init forked before the failure is
// killed and reaped.
func (c *Cmd) settleEntered(rep statusReport, ok bool) error {
	if c.Sandbox == nil {
		return nil
	}
	c.closeRelease()
	fd := c.enteredFD
	c.enteredFD = -1
	if !ok || fd < 0 || c.adoptErr != nil {
		switch {
		case fd >= 0:
			killChildFD(fd)
			unix.Close(fd)
		case rep.childPid > 0:
			killChild(rep.childPid)
		}
		if c.adoptErr != nil {
			return c.adoptErr
		}
		if ok {
			return errors.New("namespace: the init reported no pid for the command")
		}
		return nil
	}
	proc, _ := os.FindProcess(rep.childPid)
	_, _ = c.ecmd.Process.Wait() // the init exits right after "X"
	c.mu.Lock()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
	}
	c.pidfd, c.Process = fd, proc
	// exec.Cmd.Wait waits for its Process, then for the stdio copiers,
	// which the command (holding the pipes) ends: it now waits for it.
	c.ecmd.Process = proc
	c.mu.Unlock()
	if c.Pdeathsig == 0 && c.keeper != nil {
		// The thread was kept for the init's parent-death signal only:
		// the command has none, and the init is gone.
		close(c.keeper)
		c.keeper = nil
	}
	return nil
}

// killChild kills and reaps a child of the caller by pid (an unreaped
// child: the pid is still its own).
func killChild(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	killChildFD(fd)
}

// killChildFD kills and reaps the child of the caller behind pidfd fd.
func killChildFD(fd int) {
	_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// runEntered is the init of a Cmd with a Sandbox: set up, fork the
// command, report. It returns the init's exit status.
func runEntered(cfg *initConfig, status *os.File, report func(step string) error) int {
	if step, err := setupEntered(cfg, report); err != nil {
		return fail(status, step, err)
	}
	if err := report(StepExec); err != nil {
		return 125
	}
	return forkEntered(cfg, status)
}

// setupEntered does, on the init's locked thread, what the command
// inherits from it: namespaces, console, directory; it resolves the
// command and the user inside the sandbox and prepares the child.
func setupEntered(cfg *initConfig, report func(step string) error) (string, error) {
	if err := report(StepJoin); err != nil {
		return StepJoin, err
	}
	userFD, timeFD, err := joinEntered(cfg.Enter.NSFDs)
	if err != nil {
		return StepJoin, err
	}
	if cfg.ConsoleFD > 0 {
		if err := report(StepConsole); err != nil {
			return StepConsole, err
		}
		if err := setupConsole(cfg.ConsoleFD, false); err != nil {
			return StepConsole, err
		}
	}
	if step, err := chdirAndResolve(cfg, report); err != nil {
		return step, err
	}
	if cfg.Credential != nil {
		if cfg.Credential, err = resolveUser(cfg.Credential); err != nil {
			return StepCredentials, err
		}
	}
	if err := closeRangeCloexec(cfg.FirstFreeFD); err != nil {
		return StepFDs, err
	}
	inChild := userFD >= 0 || timeFD >= 0
	if !inChild {
		// Nothing left to join that needs privileges: drop them on this
		// thread, so the command, a copy of it, never appears in the
		// sandbox with more than its own (as the init has them, a
		// process there with CAP_SYS_PTRACE could take it over before
		// execve).
		if err := setRlimits(cfg.Enter.Rlimits); err != nil {
			return StepRlimit, err
		}
		if step, err := dropPrivileges(cfg); err != nil {
			return step, err
		}
		// The credential change cleared the init's parent-death signal
		// (dropPrivileges armed the command's, which is not the init's):
		// arm it again. Should the caller have died in between, the
		// init's next report fails and it exits.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(cfg.initPdeathsig), 0, 0, 0); err != nil {
			return StepCredentials, fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err)
		}
	}
	if err := prepareChild(cfg, userFD, timeFD, inChild); err != nil {
		return StepExec, err
	}
	return "", nil
}

// joinEntered joins the namespaces passed as fds, on this thread: PID
// for its children (child.joinedPID records it), MNT last (the list is in
// allKinds order). USER and TIME are left for the single-threaded child;
// their fds are returned (-1 when absent).
func joinEntered(fds []int) (userFD, timeFD int, err error) {
	userFD, timeFD = -1, -1
	for _, fd := range fds {
		t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
		if err != nil {
			return -1, -1, fmt.Errorf("ioctl(NS_GET_NSTYPE) on fd %d: %w", fd, err)
		}
		k, _ := kindFromNSType(uintptr(t))
		switch k {
		case USER:
			userFD = fd
		case TIME:
			timeFD = fd
		case MNT:
			if err := joinMount(fd); err != nil {
				return -1, -1, err
			}
		default:
			child.joinedPID = child.joinedPID || k == PID
			if err := unix.Setns(fd, t); err != nil {
				return -1, -1, fmt.Errorf("setns(%s): %w", k, err)
			}
			unix.Close(fd)
		}
	}
	return userFD, timeFD, nil
}

// forkEntered forks the command and reports its pid, then its exec or the
// error it sent back. It returns the init's exit status.
func forkEntered(cfg *initConfig, status *os.File) int {
	errR, errW, err := os.Pipe() // both close-on-exec
	if err != nil {
		return fail(status, StepExec, err)
	}
	defer errR.Close()
	child.errFD = errW.Fd()
	pid, errno := startChild()
	errW.Close()
	if errno != 0 {
		if errno == unix.ENOMEM && child.joinedPID {
			// alloc_pid refuses a PID namespace whose init has exited.
			return fail(status, StepJoin, fmt.Errorf("forking into the sandbox's PID namespace (%v): %w", errno, os.ErrProcessDone))
		}
		return fail(status, StepExec, os.NewSyscallError("clone", errno))
	}
	if _, err := status.Write([]byte("P" + strconv.Itoa(pid) + "\n")); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL) // the caller is gone
		return 125
	}
	var rep [8]byte
	if n, _ := errR.Read(rep[:]); n < len(rep) {
		// EOF: the pipe closed at execve (or the command was killed
		// before; Wait then reports the signal).
		if _, err := status.Write([]byte{recExec, '\n'}); err != nil {
			return 125
		}
		return 0
	}
	step, errno := childReport(rep)
	return fail(status, step, childError(step, errno, cfg.Path))
}

// childError is the error the command's failed step stands for: an
// execve failure as in Cmd.Start's own exec (a *fs.PathError matching
// ENOENT for a missing command), any other as a *StepError.
func childError(step string, errno unix.Errno, path string) error {
	if step == StepExec {
		return &os.PathError{Op: "execve", Path: path, Err: errno}
	}
	return &StepError{Pkg: "namespace", Step: step, Err: errno}
}
