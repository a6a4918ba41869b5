package namespace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setupNamespaces and then setupProcess build the sandbox in the order
// that keeps privileges until they are no longer needed. They return the
// failed step and its error; report tells the parent which step begins
// (so a crash is attributed to it). setupNamespaces does what belongs to
// the namespaces (root, hostname, lo, sysctls): a Pool's init does it
// ahead of need (see Cmd.presetup).
func setupNamespaces(cfg *initConfig, report func(step string) error) (string, error) {
	if cfg.JoinMount {
		if err := joinMount(cfg.FirstFreeFD + 2); err != nil {
			return StepJoin, err
		}
	}
	if cfg.Flags&unix.CLONE_NEWCGROUP != 0 {
		// The init was born in its cgroup (CLONE_INTO_CGROUP): a cgroup
		// namespace made now is rooted there, so the command sees "0::/".
		// (With clone3 the namespace would be rooted at the parent's.)
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return StepCgroupns, os.NewSyscallError("unshare(CLONE_NEWCGROUP)", err)
		}
	}
	if len(cfg.Sysctl) > 0 {
		// Before the root: its /proc/sys ends up read-only.
		if err := report(StepSysctl); err != nil {
			return StepSysctl, err
		}
		if err := writeSysctls(cfg.Sysctl); err != nil {
			return StepSysctl, err
		}
	}
	if err := report(StepMount); err != nil {
		return StepMount, err
	}
	if cfg.Flags&unix.CLONE_NEWNS != 0 {
		// Nothing mounted from here on may propagate back to the host.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
			return StepMount, &os.PathError{Op: "make / rslave", Path: "/", Err: err}
		}
	}
	if cfg.Root != nil {
		if err := cfg.Root.Setup(); err != nil {
			return StepMount, err
		}
	}
	if cfg.ConsoleFD > 0 {
		if err := report(StepConsole); err != nil {
			return StepConsole, err
		}
		if err := setupConsole(cfg.ConsoleFD, true); err != nil {
			return StepConsole, err
		}
	}
	if cfg.Flags&unix.CLONE_NEWNET != 0 {
		if err := loopbackUp(); err != nil {
			return StepLoopback, err
		}
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return StepHostname, err
		}
	}
	if cfg.Domainname != "" {
		if err := unix.Setdomainname([]byte(cfg.Domainname)); err != nil {
			return StepHostname, err
		}
	}
	return "", nil
}

// setupProcess does what belongs to the command: limits, directory,
// credentials, capabilities, and the fds it keeps.
func setupProcess(cfg *initConfig, report func(step string) error) (string, error) {
	if err := setRlimits(cfg.Rlimits); err != nil {
		return StepRlimit, err
	}
	if step, err := chdirAndResolve(cfg, report); err != nil {
		return step, err
	}
	if step, err := dropPrivileges(cfg); err != nil {
		return step, err
	}
	// Every fd beyond stdio and ExtraFiles is closed by exec (runtime fds
	// are CLOEXEC already; this catches anything inherited by accident).
	if err := closeRangeCloexec(cfg.FirstFreeFD); err != nil {
		return StepFDs, err
	}
	return "", nil
}

// setRlimits applies limits to the whole (init) process.
func setRlimits(rs []Rlimit) error {
	for _, r := range rs {
		// syscall.Setrlimit, so the runtime does not restore its saved
		// RLIMIT_NOFILE over ours at exec.
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Cur, Max: r.Max}); err != nil {
			return fmt.Errorf("setrlimit(%d): %w", r.Resource, err)
		}
	}
	return nil
}

// joinMount enters the MNT namespace passed as fd. It is done here, not
// on the parent's starting thread, so that the init binary is exec'd in the
// parent's mount namespace (its /proc/self/fd path resolves there). Only
// this thread, which execs, needs to be in it: it gets a private fs_struct
// first, as setns(CLONE_NEWNS) requires.
func joinMount(fd int) error {
	defer unix.Close(fd)
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("setns(CLONE_NEWNS): %w", err)
	}
	return nil
}

// chdirInRoot changes to Dir resolved inside the (new) root: no "..", no
// absolute symlink and no /proc magic link may lead outside it.
func chdirInRoot(cfg *initConfig) error {
	dir := cfg.Dir
	if dir == "" {
		if cfg.Root == nil {
			return nil // stay in the inherited directory, like exec.Cmd
		}
		dir = "/"
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(fd)
	rel := strings.TrimLeft(filepath.Clean("/"+dir), "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	dfd, err := unix.Openat2(fd, rel, how)
	if err != nil {
		return &os.PathError{Op: "resolve in root", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	if err := unix.Fchdir(dfd); err != nil {
		return &os.PathError{Op: "fchdir", Path: dir, Err: err}
	}
	return nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds a command without a slash in the sandbox's PATH.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &os.PathError{Op: "look up in PATH", Path: file, Err: unix.ENOENT}
}

// loopbackUp sets IFF_UP on lo, as `ip link set lo up` does.
func loopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}

func closeRangeCloexec(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("close_range(%d, ~0, CLOSE_RANGE_CLOEXEC): %w", first, err)
	}
	return nil
}

// execCommand loads seccomp as the very last step and execs. It returns
// only on failure.
func execCommand(cfg *initConfig) error {
	if len(cfg.Seccomp) > 0 {
		prog := unix.SockFprog{Len: uint16(len(cfg.Seccomp)), Filter: &cfg.Seccomp[0]}
		_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
		if e != 0 {
			return &StepError{Pkg: "namespace", Step: StepSeccomp, Err: e}
		}
		if cfg.holdAdmin {
			if err := dropAdmin(cfg.Capabilities); err != nil {
				return &StepError{Pkg: "namespace", Step: StepSeccomp, Err: err}
			}
		}
	}
	err := syscall.Exec(cfg.Path, cfg.Args, cfg.Env)
	return &os.PathError{Op: "execve", Path: cfg.Path, Err: err}
}

// chdirAndResolve moves into the command's directory inside the root and
// resolves the command there (its PATH, the sandbox's files), reporting
// each step: the part a new sandbox's init and an entering one share
// before they drop privileges.
func chdirAndResolve(cfg *initConfig, report func(step string) error) (string, error) {
	if err := report(StepChdir); err != nil {
		return StepChdir, err
	}
	if err := chdirInRoot(cfg); err != nil {
		return StepChdir, err
	}
	path, err := lookPath(cfg.Path, cfg.Env)
	if err != nil {
		return StepExec, err
	}
	cfg.Path = path
	if err := report(StepCredentials); err != nil {
		return StepCredentials, err
	}
	return "", nil
}
