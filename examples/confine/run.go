package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/namespace"
	"golang.org/x/sys/unix"
)

// Exit statuses of confine itself, as docker run uses them.
const (
	exitConfine       = 125
	exitNotExecutable = 126
	exitNotFound      = 127
	exitOOM           = 137
)

// runCommand implements `confine run`: parse, check the host can honour
// every flag, create the cgroup, start the sandbox, forward signals, wait,
// report, clean up. It returns the exit status.
func runCommand(args []string, stdout, stderr io.Writer) int {
	o, err := parseRunArgs(args)
	if err != nil {
		return fail(stderr, err)
	}
	if o.help {
		printRunHelp(stdout)
		return 0
	}
	// From here on a signal must not kill confine before it cleaned up:
	// signals are queued and forwarded to the command once it runs.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	h, err := cgroup.Detect()
	if err != nil {
		return fail(stderr, fmt.Errorf("finding the cgroup v2 hierarchy: %w", err))
	}
	if err := checkControllers(h, o); err != nil {
		return fail(stderr, err)
	}
	if o.stats {
		enableForStats(h, o)
	}
	// The cgroup first, empty, so that the init is born in it
	// (CLONE_INTO_CGROUP): moving a running process in through
	// cgroup.procs waits for an RCU grace period the first time in a while
	// (13 ms on a 2-core VM), more than the init's whole start-up. Its
	// limits, device filter and bandwidth limiter follow in prepare, while
	// the init starts up and before it sets anything up.
	rc, err := makeRunCgroup(h, o)
	if err != nil {
		return fail(stderr, err)
	}
	status := runIn(h, o, rc, sigs, stderr)
	if err := rc.remove(); err != nil {
		fmt.Fprintf(stderr, "confine: cleaning up: %v\n", err)
		if status == 0 {
			status = exitConfine
		}
	}
	return status
}

// runIn runs the sandbox in the run's cgroup rc, which the caller removes.
func runIn(h *cgroup.Hierarchy, o *options, rc *runCgroup, sigs <-chan os.Signal, stderr io.Writer) int {
	sb, err := newSandbox(o, rc.cg)
	if err != nil {
		return fail(stderr, err)
	}
	defer sb.close()
	// Leftovers of runs killed with SIGKILL; a failure here must not stop
	// this run.
	_, _ = gc(h, o.cgroupParent)
	if o.resources.Network != nil {
		// The limiter pins its programs on a BPF filesystem; the mount is
		// left in place (as systemd's is) for later runs and gc.
		if _, err := cgroup.MountBPFFS(); err != nil {
			return fail(stderr, &FlagError{Flag: "--egress-rate/--ingress-rate", Reason: err.Error()})
		}
	}
	if err := prepare(o, sb, rc); err != nil {
		return fail(stderr, err)
	}
	return execute(o, sb, rc, sigs, stderr)
}

// prepare completes the sandbox (compiling the seccomp profile when no
// earlier run cached it takes a few milliseconds) while the run's cgroup
// gets its limits, to shorten the start on a machine with more than one
// CPU. A sandbox error wins over a cgroup error, as when the two ran in
// sequence.
func prepare(o *options, sb *sandbox, rc *runCgroup) error {
	if o.network == "none" && o.egressRate != 0 {
		// Preparing the sandbox's network namespace decides the egress
		// mode (EDT when fq could be installed) the cgroup is limited
		// with: one after the other.
		if err := sb.complete(o); err != nil {
			return err
		}
		return rc.limit(o)
	}
	ch := make(chan error, 1)
	go func() { ch <- sb.complete(o) }()
	cerr := rc.limit(o)
	if err := <-ch; err != nil {
		return err
	}
	return cerr
}

// execute starts the command in the cgroup, waits for it and reports.
func execute(o *options, sb *sandbox, rc *runCgroup, sigs <-chan os.Signal, stderr io.Writer) int {
	sb.cmd.CgroupFD = rc.cg.FD()
	var tty *ttySession
	if o.tty {
		var err error
		if tty, err = openTTY(sb.cmd); err != nil {
			fmt.Fprintf(stderr, "confine: --tty: %v\n", err)
			return exitConfine
		}
		defer tty.close() // the caller's terminal is restored on every path
	}

	start := time.Now()
	if err := sb.cmd.Start(); err != nil {
		tty.close()
		fmt.Fprintf(stderr, "confine: %v\n", err)
		return startStatus(err)
	}
	if tty != nil {
		if err := tty.started(os.Stdout); err != nil {
			fmt.Fprintf(stderr, "confine: --tty: %v\n", err)
		}
	}
	done := make(chan struct{})
	go forwardSignals(sigs, sb.cmd, rc.cg, done)
	trim := time.AfterFunc(trimDelay, trimSupervisor)
	st, err := sb.cmd.Wait()
	trim.Stop()
	if tty != nil {
		tty.wait()
		tty.close()
	}
	close(done)
	wall := time.Since(start)
	if err != nil {
		fmt.Fprintf(stderr, "confine: waiting for the command: %v\n", err)
		return exitConfine
	}
	status := st.ShellExitCode()
	if st.OOMKilled {
		fmt.Fprintf(stderr, "confine: killed by the OOM killer (memory limit %s)\n", formatBytes(o.resources.Memory.Max))
		status = exitOOM
	}
	if o.stats {
		writeStats(stderr, collectStats(rc.cg, o, status, wall))
	}
	return status
}

// startStatus maps a Start error to docker's statuses: 127 when the
// command was not found, 126 when it could not be executed, 125 for any
// other failure of confine itself.
func startStatus(err error) int {
	var se *namespace.StepError
	switch {
	case errors.As(err, &se) && se.Step == namespace.StepExec && errors.Is(err, unix.ENOENT):
		return exitNotFound
	case errors.As(err, &se) && se.Step == namespace.StepExec:
		return exitNotExecutable
	}
	return exitConfine
}

// forwardSignals passes signals confine receives to the command. A second
// SIGINT or SIGTERM kills the whole sandbox: a PID 1 without a handler
// ignores them, and the user asked twice.
func forwardSignals(sigs <-chan os.Signal, cmd *namespace.Cmd, cg *cgroup.Cgroup, done <-chan struct{}) {
	stops := 0
	for {
		select {
		case <-done:
			return
		case s := <-sigs:
			sig := s.(syscall.Signal)
			if sig == syscall.SIGINT || sig == syscall.SIGTERM {
				stops++
			}
			if stops >= 2 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_ = cg.Kill(ctx)
				cancel()
				continue
			}
			_ = cmd.Signal(sig)
		}
	}
}

// fail prints err as confine's one-line message and returns 125.
func fail(w io.Writer, err error) int {
	var fe *FlagError
	if errors.As(err, &fe) {
		fmt.Fprintf(w, "confine: %v\n", fe)
		return exitConfine
	}
	fmt.Fprintf(w, "confine: %v\n", err)
	return exitConfine
}

// formatBytes writes a size the way the OOM message shows it: the largest
// binary unit that divides it exactly ("32MiB", "1536KiB", "100B").
func formatBytes(n int64) string {
	units := []string{"EiB", "PiB", "TiB", "GiB", "MiB", "KiB"}
	for i, u := range units {
		shift := uint(10 * (len(units) - i))
		if n > 0 && n%(1<<shift) == 0 {
			return fmt.Sprintf("%d%s", n>>shift, u)
		}
	}
	return fmt.Sprintf("%dB", n)
}
