package cgroup

import (
	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/devfilter"
)

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

// SweepDevicePins removes the device-program pins left on the BPF
// filesystem at /sys/fs/bpf by cgroups removed without Delete (their
// manager was killed, then something else removed the directory): each
// such cgroup's link pin, its place among the users of a shared program,
// its pin directory when nothing else is pinned there, and a shared
// program no cgroup uses any longer. A cgroup that still exists keeps its
// pins, also while another process creates or deletes it. It returns the
// pin directories (/sys/fs/bpf/confine/cg-<id>) of the cgroups it cleaned
// up; without a BPF filesystem there is nothing to sweep. Network pins of
// such cgroups are not swept. It needs CAP_DAC_READ_SEARCH to find
// cgroups by id, and removes nothing without it.
func SweepDevicePins() ([]string, error) {
	if bpfpin.Default.Available() != nil {
		return nil, nil
	}
	h, err := Detect()
	if err != nil {
		return nil, err
	}
	ids, err := devfilter.Sweep(bpfpin.Default, h.Root, devicesPin)
	dirs := make([]string, len(ids))
	for i, id := range ids {
		dirs[i] = bpfpin.DirForID(id)
	}
	return dirs, internal.Errorf("sweeping device pins", err)
}
