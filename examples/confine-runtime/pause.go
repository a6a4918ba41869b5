package main

import (
	"context"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/cgroup"
)

// freezeTimeout bounds pause and resume: the kernel freezes a task at its
// next return to user space, so only a task stuck in the kernel delays it.
const freezeTimeout = 30 * time.Second

func (rt *runtime) cmdPause(args []string) (int, error) {
	rest, err := parseArgs(rt.newFlags("pause"), args, 1, "ID")
	if err != nil {
		return 0, err
	}
	return 0, rt.setFrozen(rest[0], true)
}

func (rt *runtime) cmdResume(args []string) (int, error) {
	rest, err := parseArgs(rt.newFlags("resume"), args, 1, "ID")
	if err != nil {
		return 0, err
	}
	return 0, rt.setFrozen(rest[0], false)
}

// setFrozen pauses (freezes the cgroup, returning once the kernel reports
// every task frozen) or resumes a container. As runc: pause a running or
// created container, resume a paused one.
func (rt *runtime) setFrozen(id string, freeze bool) error {
	d, r, err := rt.open(id)
	if err != nil {
		return err
	}
	defer d.Close()
	st := r.status(d.path)
	switch {
	case freeze && st != specs.StateRunning && st != specs.StateCreated:
		return &StateError{ID: id, Status: string(st), Op: "pause"}
	case !freeze && st != statePaused:
		return &StateError{ID: id, Status: string(st), Op: "resume"}
	}
	cg, err := cgroup.Open(r.CgroupPath)
	if err != nil {
		return err
	}
	defer cg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), freezeTimeout)
	defer cancel()
	if freeze {
		err = cg.Freeze(ctx)
	} else {
		err = cg.Thaw(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", map[bool]string{true: "pause", false: "resume"}[freeze], id, err)
	}
	return nil
}
