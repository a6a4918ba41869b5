// Package namespace creates, opens and joins Linux namespaces, and starts
// commands in fresh or joined namespaces behind a private root: the part of
// a container runtime between clone and exec, without cgo.
//
// # Kinds and handles
//
// Kind names a namespace type (PID, NET, IPC, MNT, UTS, USER, CGROUP,
// TIME) and Set a group of them. A Handle is an O_CLOEXEC fd of a namespace
// verified with ioctl(NS_GET_NSTYPE), opened from a pid (Open), a path
// (OpenPath, e.g. /run/netns/NAME) or the calling thread (Current), or made
// anew with no process in it (New: NET, IPC, UTS, MNT, CGROUP), and
// compared by device and inode (Equal). It is the one handle type of the
// module: netns.Handle is the same type. Its fd is used through Control, so
// a concurrent Close cannot recycle it; Bind keeps the namespace alive
// under a path (as `ip netns add` does). Close releases it.
//
// Do(fn, handles...) runs fn on a fresh OS thread joined to namespaces:
// the one way, for every kind, to run code inside a namespace. The thread
// is switched back and reused when that works, and discarded otherwise
// (always after joining a MNT namespace, which needs unshare(CLONE_FS)); a
// panic in fn is re-raised in the caller. Joining a USER namespace is
// impossible from a Go program (every Go process is multithreaded): Do,
// New and Cmd return ErrMultithreadedUserns.
//
// # The spawn path
//
// Cmd is shaped like os/exec.Cmd. Start clones a re-executed copy of the
// calling binary (the init) through the syscall package, which uses clone3
// when a cgroup or TIME namespace is asked for and clone otherwise: new
// namespaces from Namespaces,
// joined ones from Join (entered on the starting thread before the fork;
// a MNT namespace is entered by the init, on the thread that execs),
// uid/gid maps, a pidfd and, with CgroupFD or CgroupPath,
// CLONE_INTO_CGROUP so the child is born in its cgroup. The init is
// always a session leader (setsid): it can neither signal the caller's
// process group nor use the caller's terminal as its controlling terminal
// (TTY, a pty slave from OpenPTY, gives it one of its own). The init then,
// in this order: arms Pdeathsig (the init is forked from a locked thread
// kept until Wait, so the signal follows the process, not a thread); makes
// itself non-dumpable; unshares the CGROUP namespace when asked (it is then
// rooted at the cgroup the init was born in); writes Sysctl (namespaced
// keys only, through a verified procfs, see Cmd.Sysctl); makes the mount
// tree rslave; builds Root (mount.Root.Setup: mounts and pivot_root); brings up lo in a
// new NET namespace; sets hostname and domainname; applies Rlimits; changes
// to Dir resolved inside the root (openat2 RESOLVE_IN_ROOT and
// RESOLVE_NO_MAGICLINKS, so /proc/self/fd/N or "../.." cannot leave it);
// looks the command up in the sandbox's PATH; drops the bounding set,
// switches credentials, sets the capability sets and ambient capabilities;
// sets no_new_privs (when asked, or when Seccomp needs it); marks every fd
// beyond stdio and ExtraFiles close-on-exec (close_range); loads Seccomp
// with seccomp(2) on the exec'ing thread; and execs. Everything
// thread-scoped happens on one locked thread, the one that execs.
//
// Programs using Cmd must call Init first thing in main (and in TestMain):
//
//	func main() {
//		namespace.Init()
//		...
//	}
//
// Without it Start returns ErrInitNotCalled. Start waits until the init
// has exec'd the command; StartContext bounds that wait (an init stuck in
// setup, e.g. on a hung mount, is killed and reaped when ctx ends). The
// init reports each step and an explicit "exec reached" record: an init
// that dies before exec (crash, OOM kill, SIGKILL) is a *StepError naming
// the step with an *InitDiedError, never the command's exit status.
//
// With Gate (NewGate) the start is split in two, as an OCI runtime's
// create and start: the init does all of the above except seccomp and
// exec, Start returns, and the init waits on its own copy of a listening
// unix socket until ReleaseGate connects to its path, from any process.
// Detach lets the caller exit meanwhile (stdio as files): the waiting init
// is reparented and keeps waiting. With Pdeathsig the init dies with the
// caller until Detach hands it over (the init disarms the signal at the
// caller's request, over the gate): a caller killed between Start and
// Detach leaves nothing waiting.
//
// Prestart splits it the other way: it forks the init from the fields
// that shape its process (namespaces, stdio, Pdeathsig...) and returns
// while the init starts up (a Go runtime start, several milliseconds), so
// that the caller can compile its filter and create the cgroup meanwhile;
// Start sends the rest. A cgroup given only to Start is entered by moving
// the waiting init (cgroup.procs) before any setup, instead of at birth,
// which costs an RCU grace period: a cgroup made empty before Prestart,
// and limited meanwhile, is faster. Stdin, Stdout and Stderr left nil at
// Prestart can be set for Start: they are sent with the config over a
// unix socket (SCM_RIGHTS) and become the command's fds 0-2 only after
// the init's setup, right before exec.
//
// A Pool keeps inits prestarted for a long-running caller (a test
// harness, a build tool confining every step): PoolConfig.New returns a
// Cmd with what is fixed per init (namespaces, id maps, Pdeathsig, a
// cgroup to be born in, made empty and limited there, and what belongs to
// the namespaces: Root, Hostname, Domainname, Sysctl), a goroutine
// prestarts up to Size of them, has each build its namespaces' side
// (CGROUP namespace, sysctls, root and pivot_root, lo, names) and wait,
// and refills as they are taken; Get hands one out to be completed
// (command, environment, directory, limits, credentials, capabilities,
// seccomp, stdio) and started, and Close kills and reaps those still
// waiting (Discard releases what New made for them). A Pool[T] carries a
// value of the caller's beside each init, made by New and handed out with
// it: the init's cgroup, to delete after Wait. A start from the
// pool skips the clone, the init's Go runtime start and the root; the
// refill costs the same CPU as before, only earlier. A waiting init dies
// with the pool's process (Pdeathsig SIGKILL unless New set another).
//
// # Entering a running sandbox
//
// Cmd.Sandbox starts a command inside a sandbox that already runs, as
// `nsenter` or an OCI runtime's exec do. OpenSandbox opens it from a pidfd
// of one of its processes (usually its init): the namespaces that differ
// from the caller's, read through the host's /proc/PID opened before the
// pidfd is checked (a recycled pid cannot stand in for it), its cgroup v2
// (below the cgroup2 mount, no link followed) and its resource limits.
// The command joins every one of those namespaces, USER and TIME included,
// is born in the sandbox's cgroup, starts from the sandbox process's
// limits, and gets its own credentials, capabilities, no_new_privs,
// seccomp filter, directory, environment and terminal from the Cmd.
//
// Nothing of the caller becomes visible inside: the init stays in the
// caller's PID namespace (no process of the sandbox can name, signal or
// ptrace it), joins the sandbox's MNT namespace on its thread (its root
// and directory are the sandbox's from then on), resolves the command
// and the user there, marks every other fd close-on-exec, drops to the
// command's limits, credentials and capabilities, and forks the command
// with CLONE_PARENT: the command is the caller's child, the only process
// that appears in the sandbox, never with more privileges than its own,
// and non-dumpable from birth until its execve (its /proc files cannot be
// opened by the sandbox's other processes). Between fork and execve the
// command runs raw system calls only, which also makes it
// single-threaded, as joining a USER or TIME namespace requires (with
// those, it drops its privileges itself once it has joined them); its
// seccomp filter is loaded right before execve, so the filter only has
// to allow execve (and capset(2) with AllowNewPrivileges: the command then
// keeps CAP_SYS_ADMIN until the filter is loaded, instead of setting
// no_new_privs, and drops it right after). A sandbox whose process has
// exited is a *StepError matching os.ErrProcessDone, a frozen cgroup one
// matching ErrSandboxFrozen: Start never waits on either.
//
// A caller killed during Start leaves nothing in the sandbox: the init
// always has SIGKILL as its parent-death signal (armed again after it
// changes credentials), and the command, once set up, waits right before
// its seccomp filter and execve for a byte that Start sends when it has
// taken the command over (a pidfd of it); without that byte (EOF: the
// caller is gone) it exits without running. From that byte on the
// command is handed over: it runs whatever happens to the caller, as it
// does once Start has returned. Pdeathsig, if set, is the command's.
//
// Files the init reads from the sandbox's root (/etc/passwd for
// Credential.User) are resolved inside the root and read only when they
// are regular files of at most 1 MiB (*FileError otherwise). The bounding
// set is dropped up to the last capability PR_CAPBSET_READ accepts; no
// file of the sandbox decides it.
//
// The init is the whole program started again, so package-level init
// functions run in it too, before Init: keep them free of side effects (no
// files created, no goroutines that write anywhere).
//
// The init never runs from a writable reference to the host binary, so
// nothing in the sandbox can overwrite it through /proc/PID/exe
// (CVE-2019-5736). As root on Linux 5.2+ with overlayfs, the binary is
// opened once per process through a private overlayfs mount with no upper
// layer, made with fsopen/fsmount and never attached anywhere: no copy,
// writes fail with EROFS even if the mount's read-only flag were cleared,
// and no path reaches the mount (it is not in any mount namespace).
// Otherwise (unprivileged, no overlayfs, the binary replaced or deleted on
// disk since the process started) a sealed memfd copy of the binary is made
// once per process, which costs a copy of the whole file.
//
// With a new PID namespace the command itself is PID 1: it must reap
// orphans that get reparented to it, signals without a handler are ignored
// by it (except SIGKILL and SIGSTOP sent from the parent's namespace), and
// when it exits the kernel kills everything else in the namespace.
//
// # Errors
//
// Bad input is reported before any kernel object is touched as
// *InvalidError (field, value, reason): the one invalid-input type of
// every confine package. A failure inside the init comes back as a
// *StepError (the one step-failed type of every package) with the step,
// the path and the init's whole error chain, carried across the status
// pipe frame by frame: errors.Is(err, unix.ENOENT) and
// errors.Is(err, ErrNotSupported) work, and errors.As finds the mount
// package's *StepError, *mount.DeviceError or *mount.TargetError as the
// init saw them. The child has been reaped by then and its namespaces and
// mounts are gone. A missing kernel feature matches ErrNotSupported;
// errors.As gives the *UnsupportedError with its minimum kernel.
//
// # Requirements
//
// Handles and Do need Linux 4.11 (ioctl NS_GET_NSTYPE), TIME namespaces
// 5.6. Cmd needs Linux 5.11 or newer: every start uses close_range with
// CLOSE_RANGE_CLOEXEC (5.11) and openat2 (5.6), and a pidfd (5.3); a
// cgroup adds clone3 with CLONE_INTO_CGROUP (5.7). Run as root or with the
// capabilities the requested namespaces and mounts need (CAP_SYS_ADMIN
// for most of them).
//
// # When not to use it
//
// To run an ordinary child process, use os/exec. To confine the calling
// process itself, use the seccomp and cgroup packages directly.
package namespace
