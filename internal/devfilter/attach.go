package devfilter

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
)

// Attach makes prog the only device program of the cgroup directory at
// cgroupPath. With pinPath != "" it updates the bpf_link pinned there, or
// attaches a new link and pins it; with pinPath == "" it attaches with
// BPF_PROG_ATTACH (multi, replacing the previous program when there is
// exactly one). Afterwards every other device program on the cgroup is
// detached, so repeated updates never pile up.
func Attach(cgroupPath string, prog *ebpf.Program, pinPath string) error {
	cg, err := bpfpin.OpenCgroup(cgroupPath)
	if err != nil {
		return err
	}
	defer cg.Close()
	if pinPath != "" {
		err = attachLink(cg, prog, pinPath)
	} else {
		err = attachLegacy(cg, prog)
	}
	if err != nil {
		return err
	}
	info, err := prog.Info()
	if err != nil {
		return fmt.Errorf("reading device program info: %w", err)
	}
	keep, _ := info.ID()
	return detachAll(cg, keep)
}

// Detach removes every device program from the cgroup at cgroupPath and
// removes the pin at pinPath (if not ""). Afterwards the cgroup's device
// access is no longer filtered. A missing cgroup is not an error, and a
// directory that is not on a cgroup2 filesystem has nothing attached, so
// it is a no-op there (besides removing the pin).
func Detach(cgroupPath, pinPath string) error {
	if pinPath != "" {
		// Detach explicitly before unpinning: dropping the last reference
		// releases a link asynchronously (a kernel work item), so the
		// program could still be attached when Detach returns.
		// A failure here (a defunct link, or BPF_LINK_DETACH missing before
		// Linux 5.9) leaves the release to the unpin below.
		if l, err := objGet(pinPath); err == nil {
			_ = linkDetach(l)
			unix.Close(l)
		}
		if err := os.Remove(pinPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unpinning device link: %w", err)
		}
	}
	cg, err := bpfpin.OpenCgroup(cgroupPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer cg.Close()
	if ok, err := bpfpin.OnCgroup2(cg); err != nil || !ok {
		return err
	}
	return detachAll(cg, 0)
}

// Attached lists the ids of the device programs attached to the cgroup.
func Attached(cgroupPath string) ([]ebpf.ProgramID, error) {
	cg, err := bpfpin.OpenCgroup(cgroupPath)
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(cg.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return nil, fmt.Errorf("querying device programs: %w", err)
	}
	ids := make([]ebpf.ProgramID, 0, len(res.Programs))
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

func attachLink(cg *os.File, prog *ebpf.Program, pinPath string) error {
	l, err := link.LoadPinnedLink(pinPath, nil)
	if err == nil {
		defer l.Close()
		if err := l.Update(prog); err == nil {
			return nil
		}
		// The pinned link is defunct (its cgroup was re-created or it
		// was detached): replace the pin with a fresh link.
		if err := l.Unpin(); err != nil {
			return fmt.Errorf("unpinning stale device link: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("loading pinned device link: %w", err)
	}
	nl, err := link.AttachRawLink(link.RawLinkOptions{
		Target: int(cg.Fd()), Program: prog, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("attaching device link: %w", err)
	}
	defer nl.Close()
	if err := nl.Pin(pinPath); err != nil {
		_ = nl.Detach()
		return fmt.Errorf("pinning device link: %w", err)
	}
	return nil
}

func attachLegacy(cg *os.File, prog *ebpf.Program) error {
	opts := link.RawAttachProgramOptions{Target: int(cg.Fd()), Program: prog,
		Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI}
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(cg.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("querying device programs: %w", err)
	}
	if len(res.Programs) == 1 {
		if _, isLink := res.Programs[0].LinkID(); !isLink {
			if old, err := ebpf.NewProgramFromID(res.Programs[0].ID); err == nil {
				defer old.Close()
				opts.Anchor = link.ReplaceProgram(old)
				if link.RawAttachProgram(opts) == nil {
					return nil
				}
				opts.Anchor = nil // e.g. a link-attached program: add, then detach
			}
		}
	}
	if err := link.RawAttachProgram(opts); err != nil {
		return fmt.Errorf("attaching device program: %w", err)
	}
	return nil
}
