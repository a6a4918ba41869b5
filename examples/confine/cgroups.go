package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
)

// defaultParent is the cgroup (below the v2 root) runs are created in.
const defaultParent = "confine"

// runCgroupOwner reads the name of a cgroup confine creates,
// confine-<owner pid>-<8 lowercase hex digits>, and returns the pid's
// digits. (Not a regexp: the regexp package would make every start of
// this binary, the sandbox's init included, initialise its Unicode
// tables.)
func runCgroupOwner(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "confine-")
	if !ok {
		return "", false
	}
	pid, random, ok := strings.Cut(rest, "-")
	if !ok || pid == "" || len(random) != 8 {
		return "", false
	}
	for _, c := range pid {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	for _, c := range random {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return pid, true
}

// runCgroup is the cgroup of one run, locked (flock on its directory) for
// as long as confine lives, which is how gc tells a live run from a
// leftover: the kernel drops the lock when its owner dies, even by SIGKILL.
type runCgroup struct {
	cg   *cgroup.Cgroup
	lock *os.File
}

// limit applies the run's limits, device filter and bandwidth limiter.
func (rc *runCgroup) limit(o *options) error {
	if err := rc.cg.Apply(o.resources); err != nil {
		return cgroupError(o, err)
	}
	return nil
}

// parentPath is the absolute directory of --cgroup-parent (or the default).
func parentPath(h *cgroup.Hierarchy, parent string) string {
	if parent == "" {
		parent = defaultParent
	}
	if strings.HasPrefix(parent, h.Root+"/") {
		return filepath.Clean(parent)
	}
	return filepath.Join(h.Root, parent)
}

// checkControllers reports the first flag whose controller this host
// cannot offer in cgroup v2, before anything is created.
func checkControllers(h *cgroup.Hierarchy, o *options) error {
	names := make([]string, 0, len(o.controllers))
	for c := range o.controllers {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if m, bound := h.V1[c]; bound {
			where := ""
			if m != "" {
				where = " (mounted at " + m + ")"
			}
			return &FlagError{Flag: o.controllers[c], Reason: fmt.Sprintf(
				"cannot be honoured on this host: the %s controller is bound to cgroup v1%s and confine limits resources through cgroup v2 (%s) only",
				c, where, h.Root)}
		}
		if !contains(h.Controllers, c) {
			return &FlagError{Flag: o.controllers[c], Reason: fmt.Sprintf(
				"cannot be honoured on this host: the cgroup v2 root %s does not offer the %s controller", h.Root, c)}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// makeRunCgroup makes confine-<pid>-<rand> under the parent, without
// limits yet (see runCgroup.limit), and locks it. The random part needs
// to be unique, not secret (only root makes cgroups there, and New fails
// on one that exists): math/rand's generator, seeded by the runtime, where
// crypto/rand's first read cost about 0.3 ms of each run (perf).
func makeRunCgroup(h *cgroup.Hierarchy, o *options) (*runCgroup, error) {
	dir := filepath.Join(parentPath(h, o.cgroupParent),
		fmt.Sprintf("confine-%d-%08x", os.Getpid(), rand.Uint32()))
	cg, err := cgroup.New(dir, cgroup.Resources{})
	if err != nil {
		return nil, cgroupError(o, err)
	}
	// Best effort: a controller that cannot be enabled leaves its stats
	// null.
	_ = cg.EnableControllers(o.statControllers...)
	lock, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		_ = lock.Close()
		_ = cg.Delete()
		return nil, fmt.Errorf("locking cgroup %s: %w", dir, err)
	}
	return &runCgroup{cg: cg, lock: lock}, nil
}

// cgroupError names the flag behind a controller the library refused.
func cgroupError(o *options, err error) error {
	var v1 *cgroup.V1BoundError
	var ce *cgroup.ControllerError
	var ie *cgroup.InvalidError
	switch {
	case errors.As(err, &v1) && o.controllers[v1.Controller] != "":
		return &FlagError{Flag: o.controllers[v1.Controller], Reason: "cannot be honoured on this host: " + err.Error()}
	case errors.As(err, &ce) && o.controllers[ce.Controller] != "":
		return &FlagError{Flag: o.controllers[ce.Controller], Reason: "cannot be honoured on this host: " + err.Error()}
	case errors.As(err, &ie) && strings.HasPrefix(ie.Field, "Network."):
		return &FlagError{Flag: "--egress-rate/--ingress-rate", Value: valueString(ie.Value), Reason: ie.Reason}
	}
	return fmt.Errorf("creating cgroup: %w", err)
}

// remove kills what is left in the cgroup, removes it (detaching and
// unpinning its BPF programs) and releases the lock.
func (r *runCgroup) remove() error {
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.cg.Kill(ctx)
	if derr := r.cg.Delete(); derr != nil {
		err = errors.Join(err, derr)
	} else {
		err = nil // Kill's complaint does not matter once the group is gone
	}
	_ = r.lock.Close()
	return err
}

// gc removes the cgroups of confine runs whose owner is gone: the name says
// confine-<pid>-..., its lock is free and no process <pid> exists. It
// returns the paths removed.
func gc(h *cgroup.Hierarchy, parent string) ([]string, error) {
	dir := parentPath(h, parent)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		owner, ok := runCgroupOwner(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if !stale(p, owner) {
			continue
		}
		if err := removeStale(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// stale reports whether the run owning the cgroup at p is dead.
func stale(p, pidText string) bool {
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err == nil || errors.Is(err, unix.EPERM) {
		return false // the owner (or a process reusing its PID) lives
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

func removeStale(p string) error {
	cg, err := cgroup.Open(p)
	if err != nil {
		return fmt.Errorf("opening leftover cgroup: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cg.Kill(ctx); err != nil {
		_ = cg.Close()
		return fmt.Errorf("killing leftover cgroup %s: %w", p, err)
	}
	if err := cg.Delete(); err != nil {
		return fmt.Errorf("removing leftover cgroup %s: %w", p, err)
	}
	return nil
}
