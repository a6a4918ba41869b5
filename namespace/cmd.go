package namespace

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/seccomp"
)

// IDMap maps a range of IDs inside a user namespace to IDs outside.
type IDMap struct {
	ContainerID int
	HostID      int
	Size        int
}

// Credential is the user the command runs as. Groups are the supplementary
// groups; nil leaves none.
type Credential struct {
	// User, when set, is a user name looked up in /etc/passwd inside the
	// sandbox (after the root is built); it overrides UID and GID.
	User   string
	UID    uint32
	GID    uint32
	Groups []uint32
}

// Rlimit is one resource limit, applied with setrlimit before exec.
// Resource is a unix.RLIMIT_* constant.
type Rlimit struct {
	Resource int
	Cur      uint64
	Max      uint64
}

// Cmd describes a command to start in fresh or joined namespaces. It is
// shaped like os/exec.Cmd: set the fields, then Start and Wait (or Run).
// A Cmd cannot be reused after Start.
//
// The zero value of every extra field means "as the parent has it": no new
// namespaces, no root change, same credentials and capabilities.
type Cmd struct {
	// Path is the command to run. Without a slash it is looked up in the
	// PATH of Env inside the sandbox (default
	// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin).
	Path string
	// Args holds the arguments including argv[0]; empty means {Path}.
	Args []string
	// Env is the environment; nil means the parent's, as with exec.Cmd.
	Env []string
	// Dir is the working directory, resolved inside the new root (it can
	// never lead outside it, not even through /proc/self/fd/N links); a
	// relative Dir is taken from the root, not from the parent's directory.
	// "" means "/" when Root is set, else the parent's directory.
	Dir string

	// Stdin, Stdout and Stderr work as in exec.Cmd: an *os.File is passed
	// as is, anything else through a pipe copied by a goroutine; nil means
	// /dev/null. The command reaches the host inode behind a file it is
	// given through /proc/self/fd, so a device (the caller's terminal,
	// /dev/null, nil's /dev/null too) is opened anew through a private
	// read-only mount: I/O works, but its mode, owner and times cannot be
	// changed, whatever the command's capabilities (Linux 5.12 and
	// CAP_SYS_ADMIN; else passed as exec.Cmd would). A regular file is
	// passed as is: a command with CAP_FOWNER and CAP_FSETID (Docker's
	// defaults) can chmod it, setuid bit included, and the caller must
	// trust it with that or pass a writer that is not an *os.File, copied
	// through a pipe, as `confine run` does. After Prestart (and from a
	// Pool) those still nil may be set for Start: they are handed over
	// then (see Prestart).
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles become fds 3, 4, ... in the command; every other fd is
	// closed at exec.
	ExtraFiles []*os.File
	// TTY, when set, is the slave side of a pseudo-terminal (see OpenPTY)
	// that becomes the controlling terminal of the command's new session,
	// and its stdin (Stdin must then be nil or TTY). Stdout and Stderr are
	// not changed: set them to TTY too for an interactive command. Without
	// TTY the command has no controlling terminal at all.
	TTY *os.File

	// Namespaces lists the namespaces to create. A new NET namespace gets
	// its loopback interface brought up.
	Namespaces Set
	// Join lists existing namespaces to enter (each kind at most once, not
	// also in Namespaces). USER cannot be joined (ErrMultithreadedUserns).
	// The handles stay owned by the caller and may be closed after Start.
	Join []*Handle

	// Hostname and Domainname need a UTS namespace in Namespaces or in
	// Join; a joined one is renamed for every process in it (as an OCI
	// config joining a pod's UTS namespace asks). The caller's own UTS
	// namespace is never renamed.
	Hostname   string
	Domainname string
	// Sysctl sets namespaced kernel parameters (sysctl(8) keys such as
	// "net.ipv4.ip_forward" or "net/ipv4/ip_forward") in the sandbox's
	// namespaces, before its root is built. Only keys of a namespace the
	// command gets are allowed, as in runc (see SysctlKind): IPC (kernel.msg*,
	// sem, shm*, fs.mqueue.*), NET (net.*), UTS (kernel.hostname and
	// kernel.domainname, unless Hostname or Domainname is set), each
	// created in Namespaces or joined but not the caller's own, and a new
	// USER namespace (user.*); anything else is an *InvalidError naming
	// the key, before any process starts. The init writes through a
	// procfs it verifies, with no symlink or mount crossing below
	// /proc/sys, so neither a rootfs nor a joined mount namespace can
	// redirect a write (a failure is a *StepError with Step StepSysctl).
	Sysctl map[string]string
	// UIDMappings and GIDMappings need a new USER namespace.
	UIDMappings []IDMap
	GIDMappings []IDMap

	// Credential, when set, switches uid, gid and groups before exec.
	Credential *Credential
	// Capabilities, when set, are the command's capability sets (see
	// Capabilities for how exec combines them with the uid).
	Capabilities *Capabilities
	// NoNewPrivileges sets no_new_privs. It is also set when Seccomp is
	// given and the command would lack CAP_SYS_ADMIN, as seccomp(2)
	// requires, unless AllowNewPrivileges says otherwise.
	NoNewPrivileges bool
	// AllowNewPrivileges leaves no_new_privs unset even with a Seccomp
	// filter and Capabilities that lack CAP_SYS_ADMIN (an OCI config's
	// noNewPrivileges false): the init keeps CAP_SYS_ADMIN, effective and
	// permitted only (the bounding set is dropped as asked), until the
	// filter is loaded, then drops it with capset(2), which the filter
	// must therefore allow. It needs Capabilities and an init that holds
	// CAP_SYS_ADMIN; without them no_new_privs is still set. Exclusive
	// with NoNewPrivileges. With Sandbox the same holds for the forked
	// command: it keeps CAP_SYS_ADMIN (non-dumpable, running raw system
	// calls only) until its filter is loaded, then drops it with capset.
	AllowNewPrivileges bool
	// Rlimits are applied with setrlimit in the init.
	Rlimits []Rlimit

	// CgroupFD is an open cgroup v2 directory (e.g. from cgroup.FD()) the
	// command is born into through clone3 CLONE_INTO_CGROUP; 0 means none
	// (fd 0 is never a cgroup directory). CgroupPath is the same by path;
	// set at most one. With either, Wait reports OOM kills.
	CgroupFD   int
	CgroupPath string

	// Root, when set, is built in the command's mount namespace and
	// pivoted into before exec: a new one (MNT in Namespaces), or one in
	// Join, which it then changes for every process in it (their root
	// moves to the new one, the old root is detached), as an OCI config
	// joining a mount namespace by path asks.
	Root *mount.Root
	// Seccomp is loaded last, right before exec, on the thread that execs
	// (seccomp(2), no flags). Between loading and execve(2) that thread
	// may still call prlimit64(2) (the Go runtime restoring RLIMIT_NOFILE),
	// futex(2) and, with AllowNewPrivileges, capset(2); a filter must
	// allow those and execve.
	Seccomp *seccomp.Program

	// Pdeathsig is sent to the command when the calling process dies
	// (exits, crashes or is killed). The init is forked from a locked OS
	// thread kept alive until Wait returns, so it does not depend on which
	// thread called Start; the init arms it before anything else and again
	// after every credential change (which clears it), and gives up when
	// the parent is already gone. Call Wait: the thread lives until then.
	Pdeathsig syscall.Signal
	// OOMScoreAdj, when set, is written to the command's oom_score_adj
	// (-1000..1000) before the init runs its setup; nil inherits the
	// caller's value.
	OOMScoreAdj *int

	// Console, when set, is a connected unix socket (e.g. one end of
	// ConsolePair, or a connection to an OCI --console-socket): the init
	// makes the command's terminal inside the sandbox, from the /dev/ptmx
	// of its root (the private devpts of mount.Dev), makes the slave its
	// controlling terminal and its stdin, stdout and stderr, and sends the
	// master over Console (SCM_RIGHTS, as runc does) before exec. Inside,
	// `tty` then names /dev/pts/0 of the sandbox's own devpts, and nothing
	// of the caller's terminal is reachable. Exclusive with TTY and with
	// Stdin, Stdout and Stderr. Console stays the caller's to close.
	Console *os.File

	// Gate, when set, makes the init wait after its setup, right before
	// loading Seccomp and exec, until ReleaseGate is called on its path;
	// Start returns once it waits (see Gate). Start closes the caller's
	// copy of the socket, whatever its outcome: from then on only the
	// init listens, so a release after the init has gone is refused
	// rather than left waiting.
	Gate *Gate

	// Sandbox, when set, starts the command inside that running sandbox,
	// as `nsenter` or `runc exec` do: it joins every namespace of the
	// Sandbox (USER and TIME included), its root is the sandbox's, Dir
	// ("" means "/") and the command's PATH lookup are resolved there,
	// and it is born in the sandbox's cgroup unless CgroupFD or
	// CgroupPath name another. It starts with the resource limits of the
	// sandbox's process, Rlimits overriding them. Namespaces, Join, Root,
	// Hostname, Domainname, UIDMappings, GIDMappings and Gate must be
	// empty. Start fails with a *StepError matching os.ErrProcessDone
	// when the sandbox's process has exited, and ErrSandboxFrozen when
	// the cgroup is frozen. The init that sets the command up never
	// enters the sandbox's PID namespace, and the command is forked from
	// it after it joined the sandbox's root and closed everything else,
	// non-dumpable until execve (see OpenSandbox and the package doc).
	// The command execs only once Start has taken it over: a caller
	// killed during Start leaves neither the init nor the command behind.
	// With a USER namespace in the sandbox, Credential's ids are the
	// sandbox's. Keep the Sandbox open until Start returns.
	Sandbox *Sandbox

	// Process is the started process (its PID is in the parent's PID
	// namespace); set by Start.
	Process *os.Process

	ecmd      *exec.Cmd
	pre       *prestarted   // set by Prestart, taken by Start
	handed    *handover     // stdio handed over at Start (after Prestart)
	keeper    chan struct{} // closed by wait: ends the thread the init was forked from
	pidfd     int
	cgroup    cgroupRef
	oomBefore int64
	waitOnce  sync.Once
	mu        sync.Mutex // guards pidfd and waited against Signal
	waited    bool
	state     *State
	waitErr   error
	testHold  *os.File // tests: with Sandbox, the command waits for a byte on it before execve

	// With Sandbox: the release pipe. The command reads one byte from
	// releaseR before execve; only this process holds releaseW.
	releaseR, releaseW *os.File
	enteredFD          int   // pidfd of the command, once adopted; -1 before
	adoptErr           error // adoptEntered failed
}

// State is how the command ended.
type State struct {
	// Pid is the command's process ID in the parent's PID namespace.
	Pid int
	// ExitCode is the exit status, or -1 when a signal killed it.
	ExitCode int
	// Signal is the signal that killed it, or 0.
	Signal syscall.Signal
	// OOMKilled is true when the cgroup recorded an OOM kill during the
	// run (only with CgroupFD/CgroupPath and the memory controller).
	OOMKilled bool
	// Rusage is the resource usage the kernel reported.
	Rusage *syscall.Rusage
}

// Success reports whether the command exited with status 0.
func (s *State) Success() bool { return s.ExitCode == 0 && s.Signal == 0 }

// ShellExitCode returns the status a shell would report: the exit code,
// or 128+N when killed by signal N.
func (s *State) ShellExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.ExitCode
}

// Pid returns the command's PID in the parent's PID namespace, or 0 before
// Start.
func (c *Cmd) Pid() int {
	if c.Process == nil {
		return 0
	}
	return c.Process.Pid
}

// PidFD returns a pidfd for the command, valid from Start until Wait
// returns, or -1. It stays owned by c.
func (c *Cmd) PidFD() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ecmd == nil || c.waited {
		return -1
	}
	return c.pidfd
}

// Run starts the command and waits for it.
func (c *Cmd) Run() (*State, error) {
	if err := c.Start(); err != nil {
		return nil, err
	}
	return c.Wait()
}

// rlimNLimits is RLIM_NLIMITS of linux/resource.h.
const rlimNLimits = 16
