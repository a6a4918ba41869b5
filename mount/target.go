package mount

import (
	"fmt"
	"path"

	"golang.org/x/sys/unix"
)

// TargetError reports a mount whose target resolves into procfs or sysfs
// (for example through a symlink /data -> /proc/sys/kernel in the rootfs)
// when the mount may not go there: a bind or tmpfs over kernel files
// would let the rootfs or a volume decide what the init or the command
// reads from /proc or /sys. It is the Err of a *StepError.
type TargetError struct {
	// Target is the mount's target as given (inside the root).
	Target string
	// Filesystem is where it resolved: "proc" or "sysfs".
	Filesystem string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("target %s resolves into %s: only a fresh %s (or a bind of the same filesystem, or an allow-listed file) may be mounted there",
		e.Target, e.Filesystem, e.Filesystem)
}

// procAllowed are the /proc files a bind may cover (the files lxcfs
// provides, as runc allows them); the target must be reached without any
// symlink.
var procAllowed = map[string]bool{
	"/proc/cpuinfo": true, "/proc/diskstats": true, "/proc/meminfo": true,
	"/proc/stat": true, "/proc/swaps": true, "/proc/uptime": true,
	"/proc/loadavg": true, "/proc/slabinfo": true, "/proc/net/dev": true,
	"/proc/sys/kernel/ns_last_pid": true,
}

// checkTarget refuses mount m on tfd when tfd is inside a procfs or sysfs,
// except for a fresh instance of a kernel filesystem (proc, sysfs,
// cgroup2), a bind whose source (tree, or -1) is on the same kind of
// filesystem, or an allow-listed /proc file reached without symlinks.
func (s *setup) checkTarget(tfd int, m *Mount, tree int) error {
	fs := kernelFS(tfd)
	if fs == "" {
		return nil
	}
	switch m.Type {
	case "proc", "sysfs", "cgroup2":
		return nil
	case "bind":
		if kernelFS(tree) == fs {
			return nil
		}
		if fs == "proc" && procAllowed[path.Clean(m.Target)] && s.sameWithoutSymlinks(tfd, m.Target) {
			return nil
		}
	}
	return &TargetError{Target: m.Target, Filesystem: fs}
}

// kernelFS names the filesystem of fd when it is procfs or sysfs, else "".
func kernelFS(fd int) string {
	if fd < 0 {
		return ""
	}
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) != nil {
		return ""
	}
	switch st.Type {
	case unix.PROC_SUPER_MAGIC:
		return "proc"
	case unix.SYSFS_MAGIC:
		return "sysfs"
	}
	return ""
}

// sameWithoutSymlinks reports whether p, resolved inside the root with no
// symlink allowed, is the file tfd refers to.
func (s *setup) sameWithoutSymlinks(tfd int, p string) bool {
	fd, err := resolveInRoot(s.root, p, true)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Fstat(tfd, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}
