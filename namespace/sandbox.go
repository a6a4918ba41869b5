package namespace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Sandbox is a running sandbox that more commands can be started in
// (Cmd.Sandbox), seen through one of its processes, usually its init: the
// namespaces that process is in, its cgroup and its resource limits. It is
// opened from a pidfd (OpenSandbox), so a recycled pid can never stand in
// for the process: everything read by pid is checked against the pidfd
// afterwards. Close releases it.
//
// Only the namespaces that differ from the caller's are kept (a sandbox
// sharing the host's network has no NET handle). They stay alive as long
// as the Sandbox is open, even if its process exits; Cmd.Start checks that
// the process still runs, since a PID namespace whose init has exited takes
// no new process.
type Sandbox struct {
	pidfd  *os.File
	pid    int
	ns     []*Handle // in join order (see allKinds)
	cgroup *os.File  // O_PATH directory of its cgroup v2, or nil
	cgPath string    // that cgroup, as /proc/PID/cgroup names it
	limits [rlimNLimits]unix.Rlimit
}

// maxProcRead bounds what OpenSandbox reads from /proc: the sandbox names
// its own cgroups, and nothing it controls may make the caller read
// without end.
const maxProcRead = 64 << 10

// OpenSandbox opens the sandbox of the process behind pidfd (from
// pidfd_open(2), clone's CLONE_PIDFD or Cmd.PidFD), which stays owned by
// the caller. It opens that process's namespaces through the host's
// /proc/PID directory, opened before the pidfd is checked so it is known
// to be the same process, reads its cgroup v2 (from /proc/PID/cgroup,
// opened below the cgroup2 mount without following any link) and its
// resource limits (prlimit(2)), both as they are now. A process that has
// exited, zombies included, gives a *StepError matching
// os.ErrProcessDone. Every read of the process's /proc files is bounded:
// the sandbox names its own cgroups.
func OpenSandbox(pidfd int) (*Sandbox, error) {
	if pidfd < 0 {
		return nil, &InvalidError{Pkg: "namespace", Field: "pidfd", Value: strconv.Itoa(pidfd), Reason: "must be an open pidfd"}
	}
	nfd, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("namespace: dup pidfd %d: %w", pidfd, err)
	}
	s := &Sandbox{pidfd: os.NewFile(uintptr(nfd), "pidfd")}
	if err := s.open(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Sandbox) open() error {
	pid, err := pidfdPid(int(s.pidfd.Fd()))
	if err != nil {
		return err
	}
	s.pid = pid
	proc, err := unix.Open("/proc/"+strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return s.goneOr(&os.PathError{Op: "open", Path: "/proc/" + strconv.Itoa(pid), Err: err})
	}
	defer unix.Close(proc)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(proc, &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		return &StepError{Pkg: "namespace", Step: StepJoin, Path: "/proc", Err: errors.New("not a proc filesystem")}
	}
	// From here on proc is the pidfd's process if that has not exited
	// yet: a pid is only reused once its process was reaped.
	if err := s.alive(); err != nil {
		return err
	}
	if err := s.openNamespaces(proc); err != nil {
		return s.goneOr(err)
	}
	if err := s.openCgroup(proc); err != nil {
		return s.goneOr(err)
	}
	for r := range s.limits {
		if err := unix.Prlimit(pid, r, nil, &s.limits[r]); err != nil {
			return s.goneOr(fmt.Errorf("namespace: prlimit(%d, %d): %w", pid, r, err))
		}
	}
	// The limits were read by pid: still the same process?
	return s.alive()
}

// openNamespaces keeps each namespace of the process that differs from
// the one the caller's children would get.
func (s *Sandbox) openNamespaces(proc int) error {
	for _, k := range allKinds {
		fd, err := unix.Openat(proc, "ns/"+k.ProcName(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) && HaveKind(k) != nil {
				continue // a kind this kernel lacks
			}
			return &StepError{Pkg: "namespace", Step: StepJoin, Path: "/proc/" + strconv.Itoa(s.pid) + "/ns/" + k.ProcName(), Err: err}
		}
		h, err := newHandle(fd, k.ProcName())
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("namespace: %s namespace of pid %d: %w", k, s.pid, err)
		}
		mine, err := currentForJoin(k)
		if err != nil {
			h.Close()
			return err
		}
		same := mine.Equal(h)
		mine.Close()
		if same {
			h.Close()
			continue
		}
		s.ns = append(s.ns, h)
	}
	return nil
}

// openCgroup finds the process's cgroup v2 and opens it below the cgroup2
// mount with openat2: no symlink, no "..", no other filesystem. Without a
// cgroup2 mount the Sandbox has no cgroup.
func (s *Sandbox) openCgroup(proc int) error {
	mnt := unifiedMount()
	if mnt == "" {
		return nil
	}
	b, err := readAt(proc, "cgroup", maxProcRead)
	if err != nil {
		return &StepError{Pkg: "namespace", Step: StepJoin, Path: "/proc/" + strconv.Itoa(s.pid) + "/cgroup", Err: err}
	}
	p, ok := parseUnifiedCgroup(b)
	if !ok {
		return nil // in no v2 cgroup this process can name (e.g. v1 only)
	}
	root, err := unix.Open(mnt, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: mnt, Err: err}
	}
	defer unix.Close(root)
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
			unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return &StepError{Pkg: "namespace", Step: StepJoin, Path: mnt + p, Err: err}
	}
	s.cgroup, s.cgPath = os.NewFile(uintptr(fd), mnt+p), mnt+p
	return nil
}

// parseUnifiedCgroup returns the path of the "0::PATH" line of
// /proc/PID/cgroup content.
func parseUnifiedCgroup(b []byte) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxProcRead)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok && strings.HasPrefix(p, "/") {
			return p, true
		}
	}
	return "", false
}

// unifiedMount is where the cgroup2 hierarchy is mounted: /sys/fs/cgroup,
// or /sys/fs/cgroup/unified on hybrid hosts; "" when it is not.
func unifiedMount() string {
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	return ""
}

// readAt reads name below dirfd, at most limit bytes (more is an error).
func readAt(dirfd int, name string, limit int64) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &FileError{Path: name, Reason: fmt.Sprintf("larger than %d bytes", limit)}
	}
	return b, nil
}

// pidfdPid reads the pid of a pidfd from /proc/self/fdinfo ("Pid:"): -1
// when its process was reaped, 0 when it is in no PID namespace the
// caller can see.
func pidfdPid(pidfd int) (int, error) {
	proc, err := unix.Open("/proc/self/fdinfo", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: "/proc/self/fdinfo", Err: err}
	}
	defer unix.Close(proc)
	b, err := readAt(proc, strconv.Itoa(pidfd), maxProcRead)
	if err != nil {
		return 0, fmt.Errorf("namespace: fdinfo of pidfd %d: %w", pidfd, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(l, "Pid:")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			return 0, fmt.Errorf("namespace: fdinfo of pidfd %d: Pid %q", pidfd, v)
		case pid == -1:
			return 0, exitedError(0)
		case pid == 0:
			return 0, &InvalidError{Pkg: "namespace", Field: "pidfd", Value: strconv.Itoa(pidfd), Reason: "its process is outside the caller's PID namespace"}
		}
		return pid, nil
	}
	return 0, &InvalidError{Pkg: "namespace", Field: "pidfd", Value: strconv.Itoa(pidfd), Reason: "not a pidfd"}
}

// exitedError is the error for a sandbox whose process has exited.
func exitedError(pid int) error {
	v := ""
	if pid > 0 {
		v = "pid " + strconv.Itoa(pid)
	}
	return &StepError{Pkg: "namespace", Step: StepJoin, Value: v, Err: os.ErrProcessDone}
}

// alive returns nil while the process has not exited, else the error
// matching os.ErrProcessDone. A pidfd polls readable once its process
// has exited, reaped or not.
func (s *Sandbox) alive() error {
	if s == nil || s.pidfd == nil {
		return &InvalidError{Pkg: "namespace", Field: "Sandbox", Value: "<closed>", Reason: "the sandbox is closed"}
	}
	var exited bool
	err := s.control(func(fd int) error {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			exited = err == nil && n > 0
			return err
		}
	})
	if err != nil {
		return fmt.Errorf("namespace: polling pidfd: %w", err)
	}
	if exited {
		return exitedError(s.pid)
	}
	return nil
}

// goneOr turns a failure into the "exited" error when the process has
// exited meanwhile (its /proc entries vanish with it), else returns err.
func (s *Sandbox) goneOr(err error) error {
	if aerr := s.alive(); aerr != nil {
		return aerr
	}
	return err
}

func (s *Sandbox) control(fn func(fd int) error) error {
	rc, err := s.pidfd.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// Pid returns the sandbox process's pid in the caller's PID namespace.
func (s *Sandbox) Pid() int {
	if s == nil {
		return 0
	}
	return s.pid
}

// Kinds returns the kinds of namespace the sandbox has apart from the
// caller's: those a command started in it joins.
func (s *Sandbox) Kinds() Set {
	if s == nil {
		return nil
	}
	var out Set
	for _, h := range s.ns {
		out = append(out, h.kind)
	}
	return out
}

// Cgroup returns the path of the sandbox process's cgroup v2 directory as
// it was when the Sandbox was opened, or "" when it has none.
func (s *Sandbox) Cgroup() string {
	if s == nil {
		return ""
	}
	return s.cgPath
}

// Close releases the pidfd, the namespace handles and the cgroup. It is
// nil-safe and idempotent.
func (s *Sandbox) Close() error {
	if s == nil {
		return nil
	}
	for _, h := range s.ns {
		h.Close()
	}
	s.ns = nil
	if s.cgroup != nil {
		s.cgroup.Close()
		s.cgroup = nil
	}
	if s.pidfd != nil {
		s.pidfd.Close()
		s.pidfd = nil
	}
	return nil
}
