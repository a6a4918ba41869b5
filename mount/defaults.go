package mount

// DefaultRoot returns the root `confine run` sets up: with a path, a fresh
// procfs, a read-only sysfs and a minimal /dev (with /dev/pts and
// /dev/shm) inside it; with path "" (the host's root through the private
// namespace) only a fresh procfs, as a new PID namespace needs. Both mask
// DefaultMaskedPaths and make DefaultReadonlyPaths read-only. Append to
// Mounts for tmpfs and volumes.
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
