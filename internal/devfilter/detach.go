package devfilter

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// detachAll detaches every device program of the cgroup except the one
// with id keep (0: none). Links are found by walking the system's links
// (BPF_PROG_QUERY reports link ids only since Linux 6.6); the remaining
// programs were attached with BPF_PROG_ATTACH and are detached by fd.
func detachAll(cg *os.File, keep ebpf.ProgramID) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(cg.Fd()), &st); err != nil {
		return fmt.Errorf("stat cgroup: %w", err)
	}
	// The query lists link-attached programs too, so when it shows
	// nothing but keep there is no link to look for: the common Delete of
	// a cgroup without devices costs one syscall, not a walk of every
	// link on the system.
	if only, err := onlyAttached(cg, keep); err != nil || only {
		return err
	}
	if err := detachLinks(st.Ino, keep); err != nil {
		return err
	}
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(cg.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("querying device programs: %w", err)
	}
	var errs []error
	for _, p := range res.Programs {
		if p.ID == keep {
			continue
		}
		prog, err := ebpf.NewProgramFromID(p.ID)
		if errors.Is(err, os.ErrNotExist) {
			continue // went away meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("opening device program %d: %w", p.ID, err))
			continue
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{
			Target: int(cg.Fd()), Program: prog, Attach: ebpf.AttachCGroupDevice})
		prog.Close()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("detaching device program %d: %w", p.ID, err))
		}
	}
	return errors.Join(errs...)
}

func detachLinks(cgroupID uint64, keep ebpf.ProgramID) error {
	it := new(link.Iterator)
	defer it.Close()
	var errs []error
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			continue
		}
		ci := info.Cgroup()
		if ci == nil || ci.CgroupId != cgroupID ||
			ebpf.AttachType(ci.AttachType) != ebpf.AttachCGroupDevice || info.Program == keep {
			continue
		}
		if err := it.Link.Detach(); err != nil {
			errs = append(errs, fmt.Errorf("detaching device link %d: %w", it.ID, err))
		}
	}
	if err := it.Err(); err != nil {
		errs = append(errs, fmt.Errorf("listing links: %w", err))
	}
	return errors.Join(errs...)
}

// onlyAttached reports whether no device program other than keep is
// attached to the cgroup.
func onlyAttached(cg *os.File, keep ebpf.ProgramID) (bool, error) {
	ids, err := queryIDs(int(cg.Fd()))
	if err != nil {
		return false, fmt.Errorf("querying device programs: %w", err)
	}
	for _, id := range ids {
		if ebpf.ProgramID(id) != keep {
			return false, nil
		}
	}
	return true, nil
}
