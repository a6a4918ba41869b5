package mount

import "os"

// DefaultRoot returns the root a container runtime sets up by default
// (runc's and Docker's defaults, hardened): with a path, a fresh
// procfs, a read-only sysfs and a minimal /dev (with /dev/pts and
// /dev/shm) inside it. With path "" (the host's root through the private
// namespace) the host's tree is read-only, recursively, whatever readonly
// says (a sandbox never writes to the host's root by default), with a
// fresh procfs, a minimal /dev and private tmpfs on /tmp, /run and
// /var/tmp (those that exist on the host): host sockets under /run and
// files under /tmp are out of reach. /sys is the caller's business there
// (a fresh sysfs belongs to a new NET namespace; the read-only host tree
// covers it otherwise). Both mask DefaultMaskedPaths and make
// DefaultReadonlyPaths read-only. Append to Mounts for tmpfs and volumes:
// with path "" those are the only writable places.
func DefaultRoot(path string, readonly bool) Root {
	r := Root{
		Path:          path,
		Readonly:      readonly,
		Mounts:        []Mount{Proc("/proc")},
		MaskedPaths:   DefaultMaskedPaths(),
		ReadonlyPaths: DefaultReadonlyPaths(),
	}
	if path != "" {
		r.Mounts = append(r.Mounts, Sysfs("/sys"), Dev("/dev"))
		return r
	}
	r.Readonly = true
	r.Mounts = append(r.Mounts, Dev("/dev"))
	for _, d := range []struct {
		path string
		mode uint32
	}{{"/tmp", 0o1777}, {"/run", 0o755}, {"/var/tmp", 0o1777}} {
		if fi, err := os.Lstat(d.path); err == nil && fi.IsDir() {
			r.Mounts = append(r.Mounts, Tmpfs(d.path, 0, d.mode, NoSuid|NoDev))
		}
	}
	return r
}

// DefaultMaskedPaths returns the paths current moby and Kubernetes
// mask by default, runc's list plus /proc/interrupts: files get /dev/null
// bound over them, directories an empty read-only tmpfs.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths returns the paths runc and moby make read-only by
// default.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}
