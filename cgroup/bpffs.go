package cgroup

import (
	"errors"
	"slices"

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

// SweepPins removes the pins left on the BPF filesystem at /sys/fs/bpf by
// cgroups removed without Delete (their manager was killed, then something
// else removed the directory), as Delete would have: each such cgroup's
// network limiter (links and maps), its device program link and its place
// among the users of a shared device program, and its pin directory when
// nothing else is pinned there; and a shared device program no cgroup uses
// any longer. The kernel frees the programs and maps only those pins held.
// A cgroup that still exists keeps its pins, also while another process
// creates, limits or deletes it. It returns the pin directories
// (/sys/fs/bpf/confine/cg-<id>) of the removed cgroups it found (one
// whose Delete finished while the sweep ran may be among them, with
// nothing left to remove); without a BPF filesystem there is nothing to
// sweep. It needs CAP_DAC_READ_SEARCH to find cgroups by id, and removes
// nothing without it.
func SweepPins() ([]string, error) {
	if networkFS.Available() != nil && bpfpin.Default.Available() != nil {
		return nil, nil
	}
	h, err := Detect()
	if err != nil {
		return nil, err
	}
	return sweepPins(networkFS, bpfpin.Default, h.Root)
}

// sweepPins is SweepPins for network pins on netFS and device pins on
// devFS (the same filesystem but in tests), resolving cgroup ids below
// cgroupRoot. Network pins go first, so the device sweep's removal of a
// directory finds it empty.
func sweepPins(netFS, devFS bpfpin.FS, cgroupRoot string) ([]string, error) {
	var dirs []string
	var errs []error
	if netFS.Available() == nil {
		mnt, err := bpfpin.OpenCgroup(cgroupRoot)
		if err != nil {
			return nil, internal.Errorf("sweeping pins", err)
		}
		defer mnt.Close()
		ids, err := sweepNetwork(netFS, mnt)
		for _, id := range ids {
			dirs = append(dirs, netFS.DirForID(id))
		}
		errs = append(errs, internal.Errorf("sweeping network pins", err))
	}
	if devFS.Available() == nil {
		ids, err := devfilter.Sweep(devFS, cgroupRoot, devicesPin)
		for _, id := range ids {
			if d := devFS.DirForID(id); !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
		errs = append(errs, internal.Errorf("sweeping device pins", err))
	}
	return dirs, errors.Join(errs...)
}
