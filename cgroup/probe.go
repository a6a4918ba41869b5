package cgroup

import (
	"errors"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/bwprog"
)

// UnsupportedError is what a Have* probe, and any operation that needs a
// feature this kernel or host lacks, returns: errors.As gives the feature
// and the first kernel that has it. It matches ErrNotSupported. The type
// is shared by every confine package.
type UnsupportedError = internal.UnsupportedError

var (
	haveKill         = internal.VersionProbe("cgroup.kill", "5.14")
	haveDeviceFilter = sync.OnceValue(func() error {
		// Load the smallest device program (allow all) rather than use
		// cilium/ebpf's features package, whose init work every importer
		// of cgroup would pay for.
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}})
		if err == nil {
			p.Close()
			return nil
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, ebpf.ErrNotSupported) {
			return &UnsupportedError{Feature: "cgroup device programs", MinKernel: "4.15", Err: err}
		}
		return err
	})
)

// HaveV2 reports whether a cgroup v2 hierarchy is mounted (on hybrid hosts
// at /sys/fs/cgroup/unified): nil, or an *UnsupportedError.
func HaveV2() error {
	_, err := Detect()
	return err
}

// HaveController reports whether the unified hierarchy offers controller
// name ("memory", "cpu", ...): nil, a *V1BoundError when a cgroup v1
// hierarchy holds it, or a *ControllerError when the kernel lacks it.
func HaveController(name string) error {
	h, err := Detect()
	if err != nil {
		return err
	}
	return h.checkControllers([]string{name})
}

// HaveKill reports whether cgroup.kill exists (Linux 5.14). Kill works
// without it, by freezing and signalling each process.
func HaveKill() error { return haveKill() }

// HaveDeviceFilter reports whether device rules can be enforced (cgroup
// device eBPF programs, Linux 4.15). It needs CAP_BPF (or root) to tell:
// an error that is not an *UnsupportedError says the probe could not run.
func HaveDeviceFilter() error { return haveDeviceFilter() }

// HaveNetworkLimits reports whether the bandwidth programs load (Linux
// 5.12: BPF atomics). Like HaveDeviceFilter it needs CAP_BPF to tell.
func HaveNetworkLimits() error { return bwprog.Supported() }
