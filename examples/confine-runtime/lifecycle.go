package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/namespace"
)

// startContainer releases a created container's init (it execs the
// process) and runs the poststart hooks.
func (rt *runtime) startContainer(id string) error {
	d, r, err := rt.open(id)
	if err != nil {
		return err
	}
	defer d.Close()
	if st := r.status(d.path); st != specs.StateCreated {
		return &StateError{ID: id, Status: string(st), Op: "start"}
	}
	return rt.release(d, r)
}

func (rt *runtime) release(d *stateDir, r *record) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := namespace.ReleaseGate(ctx, d.gatePath())
	// Released or failed, the gate is used up: the state is running or
	// stopped from here on.
	os.Remove(d.gatePath())
	if err != nil {
		return fmt.Errorf("starting container %s: %w", r.ID, err)
	}
	rt.warnHooks("poststart", r.Hooks.Poststart, r.state(d.path))
	return nil
}

// parseSignal accepts "KILL", "SIGKILL", "9" and "SIGRTMIN+3".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, &UsageError{Msg: fmt.Sprintf("invalid signal %q", s)}
		}
		return unix.Signal(n), nil
	}
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if rest, ok := strings.CutPrefix(u, "SIGRTMIN+"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && 34+n <= 64 {
			return unix.Signal(34 + n), nil
		}
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	return 0, &UsageError{Msg: fmt.Sprintf("invalid signal %q", s)}
}

// kill signals the init through a pidfd checked against the recorded
// start time; with all, every process in the container's cgroup.
func (rt *runtime) kill(id, sigName string, all bool) error {
	sig, err := parseSignal(sigName)
	if err != nil {
		return err
	}
	d, r, err := rt.open(id)
	if err != nil {
		return err
	}
	defer d.Close()
	if st := r.status(d.path); st == specs.StateStopped && !all {
		return &StateError{ID: id, Status: string(st), Op: "kill"}
	}
	if all {
		return killAll(r, sig)
	}
	fd, err := openPidfd(r)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("kill %s %v: %w", id, sig, err)
	}
	return nil
}

// killAll signals every process of the cgroup (cgroup.kill for SIGKILL).
func killAll(r *record, sig unix.Signal) error {
	cg, err := cgroup.Open(r.CgroupPath)
	if err != nil {
		return err
	}
	defer cg.Close()
	if sig == unix.SIGKILL {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return cg.Kill(ctx)
	}
	pids, err := cg.Processes()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
	}
	return nil
}

// deleteContainer removes a stopped container; --force also a created,
// running or paused one. The runtime spec requires an error, and no
// effect, for a container that is not stopped (runc deletes a created one
// anyway; engines kill a task before deleting it). Poststop hooks run
// last and only warn.
func (rt *runtime) deleteContainer(id string, force bool) error {
	d, err := openDir(rt.root, id)
	if err != nil {
		if force && checkID(id) == nil {
			// A create SIGKILLed before state.json: remove what is there.
			if dir := filepath.Join(rt.root, id); dirExists(dir) {
				return os.RemoveAll(dir)
			}
			return nil
		}
		return err
	}
	defer d.Close()
	r, err := readRecord(d.path)
	if err != nil {
		if force {
			return os.RemoveAll(d.path)
		}
		return err
	}
	st := r.status(d.path)
	if st != specs.StateStopped && !force {
		return &StateError{ID: id, Status: string(st), Op: "delete without --force"}
	}
	final := r.state(d.path)
	final.Status, final.Pid = specs.StateStopped, 0
	if err := removeContainer(d.path, r); err != nil {
		return err
	}
	rt.warnHooks("poststop", r.Hooks.Poststop, final)
	return nil
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// run is create, start and, without detach, wait and delete: the exit
// status is the process's own (128+N for signal N).
func (rt *runtime) run(id string, o createOptions, detach bool) (int, error) {
	var sigs chan os.Signal
	if !detach {
		// Queued from here on and forwarded once the process runs.
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
		defer signal.Stop(sigs)
	}
	o.ungated = !detach // Detach needs the gate
	c, err := rt.create(id, o)
	if err != nil {
		return 0, err
	}
	if detach {
		// Handed over while it waits at the gate (see create), then
		// released.
		if err := c.handOver(rt, o); err != nil {
			return 0, err
		}
		err := rt.release(c.dir, c.rec)
		if err != nil {
			c.destroy(rt)
		}
		c.dir.Close()
		return 0, err
	}
	if err := c.announce(rt, o); err != nil {
		return 0, err
	}
	if c.cmd.Gate == nil {
		rt.warnHooks("poststart", c.rec.Hooks.Poststart, c.rec.state(c.dir.path))
	} else if err := rt.release(c.dir, c.rec); err != nil {
		c.destroy(rt)
		return 0, err
	}
	// While it runs, other commands (kill, pause, update, delete) lock the
	// state directory: unlock it, and lock it again to clean up.
	c.dir.Close()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = c.cmd.Signal(s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	st, werr := c.cmd.Wait()
	close(done)
	c.cmd = nil
	// Unless a delete --force removed it meanwhile (its poststop hooks ran
	// then), and a new container may have taken the id since.
	if d, err := lockDir(c.dir.path); err == nil {
		if r, err := readRecord(d.path); err == nil && r.Pid == c.rec.Pid && r.StartTime == c.rec.StartTime {
			c.dir = d
			final := c.rec.state(c.dir.path)
			final.Status, final.Pid = specs.StateStopped, 0
			c.destroy(rt)
			rt.warnHooks("poststop", c.rec.Hooks.Poststop, final)
		} else {
			d.Close()
		}
	}
	if werr != nil {
		return 0, werr
	}
	return st.ShellExitCode(), nil
}

// open locks the state directory of container id and reads its record.
func (rt *runtime) open(id string) (*stateDir, *record, error) {
	d, err := openDir(rt.root, id)
	if err != nil {
		return nil, nil, err
	}
	r, err := readRecord(d.path)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, r, nil
}
