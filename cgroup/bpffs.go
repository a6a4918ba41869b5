package cgroup

import "github.com/confinelab/confine/internal/bpfpin"

// MountBPFFS mounts a BPF filesystem at /sys/fs/bpf unless one is there,
// and reports whether it mounted one. Network limits pin their programs
// and maps there, so that a restarted manager finds them again and Delete
// can remove them; Apply with a Network returns an error matching
// ErrNotSupported without it. Hosts run by systemd mount it at boot; a
// minimal host (a VM's init, a container) may not, and a program that
// sets network limits calls this once at start. The mount is left in
// place: pins of running cgroups live in it.
func MountBPFFS() (mounted bool, err error) { return bpfpin.Default.Mount() }

// HaveBPFFS reports whether a BPF filesystem is mounted at /sys/fs/bpf,
// where network limits (and device programs, where it exists) pin their
// objects: nil, or an *UnsupportedError.
func HaveBPFFS() error { return bpfpin.Default.Available() }
