package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/bpfpin"
)

// The runtime run by these tests logs each phase of create it reaches to
// the file named by envPhaseLog, and SIGKILLs itself on reaching the phase
// named by envKillAt (see phase.go: only the test binary honours them).
const (
	envPhaseLog = "CONFINE_RUNTIME_TEST_PHASE_LOG"
	envKillAt   = "CONFINE_RUNTIME_TEST_KILL_AT"
)

func phaseHook(logPath, killAt string) func(string) {
	if logPath == "" && killAt == "" {
		return nil
	}
	return func(name string) {
		if logPath != "" {
			if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
				f.WriteString(name + "\n")
				f.Close()
			}
		}
		if name == killAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}

// createPhases are create's steps in order; handedOver is the first at
// which the container's init belongs to the state directory (and so may
// outlive the runtime).
var createPhases = []string{"dir-created", "spec-saved", "cgroup-recorded", "cgroup-created",
	"init-at-gate", "pid-recorded", "hooks-run", "detached", "pid-file-staged", "pid-file-written"}

const handedOver = "detached"

// TestCreateKilled SIGKILLs `create` at each of its steps, then checks
// that state and list answer (never hang), that an init not yet handed
// over to the state directory dies with the runtime, and that delete
// --force leaves nothing: no state directory, cgroup, BPF pins, process or
// mount.
func TestCreateKilled(t *testing.T) {
	for _, ph := range createPhases {
		t.Run(ph, func(t *testing.T) { createKilledAt(t, ph) })
	}
}

func createKilledAt(t *testing.T, ph string) {
	dir, cg := killBundle(t)
	root := stateRoot(t)
	cmd, log, pidDir := killableCreate(t, root, dir)
	cmd.Env = append(cmd.Env, envKillAt+"="+ph)
	if err := cmd.Run(); !killed(err) {
		t.Fatalf("create: %v, want it SIGKILLed at %s", err, ph)
	}
	reached := phasesIn(log)
	if len(reached) == 0 || reached[len(reached)-1] != ph {
		t.Fatalf("phases reached %q, want to stop at %s", reached, ph)
	}
	cleanAfterKill(t, root, dir, cg, pidDir, reached, false)
}

// TestCreateKilledRacing kills create from outside after delays spread
// over the time a whole create takes, so that kills also land inside
// steps (above all while the init sets the container up, inside
// namespace.Cmd.Start), and checks each as TestCreateKilled does. It logs
// after which step each kill landed.
func TestCreateKilledRacing(t *testing.T) {
	dir, cg := killBundle(t)
	root := stateRoot(t)
	begin := time.Now()
	mustRT(t, root, "create", "--bundle", dir, "k1")
	full := time.Since(begin)
	mustRT(t, root, "delete", "--force", "k1")
	const tries = 30
	landed := map[string]int{}
	for i := range tries {
		cmd, log, pidDir := killableCreate(t, root, dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(full*time.Duration(i)/tries, func() { _ = cmd.Process.Kill() })
		err := cmd.Wait()
		timer.Stop()
		reached := phasesIn(log)
		if !killed(err) {
			landed["(finished)"]++
			mustRT(t, root, "delete", "--force", "k1")
			continue
		}
		after := "(start)"
		if len(reached) > 0 {
			after = reached[len(reached)-1]
		}
		landed[after]++
		// A kill after the step before the hand-over may have come
		// inside Detach, after the init disarmed its parent-death signal.
		inDetach := after == createPhases[slices.Index(createPhases, handedOver)-1]
		cleanAfterKill(t, root, dir, cg, pidDir, reached, inDetach)
		if t.Failed() {
			t.Fatalf("after a kill past %q", after)
		}
	}
	t.Logf("create takes %v; %d kills landed after: %v", full, tries, landed)
	if landed["cgroup-created"] == 0 {
		t.Logf("no kill landed while the init was being set up (after cgroup-created): the host was too noisy to hit it this time")
	}
}

// killBundle is a bundle whose container gets every host object create
// can make: cgroup, device program and, where the host can, bandwidth
// programs with their pins.
func killBundle(t *testing.T) (string, string) {
	return bundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		if cgroup.HaveNetworkLimits() == nil && cgroup.HaveBPFFS() == nil {
			s.Annotations = map[string]string{annotationEgress: "8M", annotationIngress: "8M"}
		}
	})
}

// killableCreate is `create --bundle dir k1` logging its phases to log,
// its pid file alone in pidDir.
func killableCreate(t *testing.T, root, dir string) (cmd *exec.Cmd, log, pidDir string) {
	log, pidDir = filepath.Join(t.TempDir(), "phases"), t.TempDir()
	cmd = runtimeCmd(t, root, "create", "--bundle", dir, "--pid-file", filepath.Join(pidDir, "pid"), "k1")
	cmd.Env = append(cmd.Env, envPhaseLog+"="+log)
	return cmd, log, pidDir
}

func killed(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
}

func phasesIn(log string) []string {
	b, _ := os.ReadFile(log)
	return strings.Fields(string(b))
}

// cleanAfterKill checks what a create killed after reaching the phases
// reached left, and that delete --force removes it. inDetach: the kill may
// have come while Detach handed the init over, which then may live on
// (see namespace.Cmd.Detach).
func cleanAfterKill(t *testing.T, root, dir, cg, pidDir string, reached []string, inDetach bool) {
	t.Helper()
	checkBesidePidFile(t, pidDir)
	pins := ""
	if p, err := bpfpin.Dir(cg); err == nil {
		pins = p
	}
	procs := livingIn(cg)
	t.Logf("killed after %v: cgroup %v, processes %v, pins %q", reached, dirExists(cg), procs, pins)
	if !slices.Contains(reached, handedOver) && !inDetach {
		// Not handed over: nothing of the container may outlive create.
		waitGone(t, cg)
	}
	checkStateAnswers(t, root, "k1")
	mustRT(t, root, "delete", "--force", "k1")
	if _, err := os.Stat(filepath.Join(root, "k1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory left: %v", err)
	}
	for _, p := range procs {
		if p.alive() {
			t.Errorf("process %d of the container still runs: %s", p.pid, cmdline(p.pid))
		}
	}
	expectGone(t, cg, pins, 0, 0)
	expectNoMounts(t, dir)
}

// checkStateAnswers runs state and list on a half-created container: each
// must answer within a bound, state with a status or a clear error.
func checkStateAnswers(t *testing.T, root, id string) {
	t.Helper()
	for _, args := range [][]string{{"state", id}, {"list", "--format", "json"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rcmd := runtimeCmd(t, root, args...)
		cmd := exec.CommandContext(ctx, rcmd.Path, rcmd.Args[1:]...)
		cmd.Env = rcmd.Env // without the race detector's 1 s sleep at exit
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		hung := ctx.Err() != nil
		cancel()
		if hung {
			t.Errorf("%s hangs on a half-created container", args[0])
			continue
		}
		t.Logf("%s: %v %s %s", args[0], err, strings.TrimSpace(string(out)), strings.TrimSpace(stderr.String()))
		switch {
		case args[0] == "list" && err != nil:
			t.Errorf("list: %v: %s", err, stderr.String())
		case args[0] == "state" && err == nil:
			var st specs.State
			if jerr := json.Unmarshal(out, &st); jerr != nil || st.ID != id || st.Status == "" {
				t.Errorf("state: %q: %v", out, jerr)
			}
		case args[0] == "state" && !strings.Contains(stderr.String(), "does not exist"):
			t.Errorf("state: %v %q, want a status or \"does not exist\"", err, stderr.String())
		}
	}
}

type proc struct {
	pid   int
	start uint64
}

func (p proc) alive() bool { return sameProcess(p.pid, p.start) }

// livingIn lists the processes in cg (none when it does not exist).
func livingIn(cg string) []proc {
	b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	var out []proc
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, proc{pid, startTime(pid)})
		}
	}
	return out
}

// waitGone waits (10s at most) for cg to hold no process.
func waitGone(t *testing.T, cg string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); len(livingIn(cg)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Errorf("processes %v outlived create", livingIn(cg))
			for _, p := range livingIn(cg) {
				t.Logf("pid %d: %s\n%s", p.pid, cmdline(p.pid), procStatus(p.pid))
			}
			return
		}
	}
}

// procStatus is what /proc says of pid: the state, parent, signals and
// credentials from status, and where it waits (wchan, stack).
func procStatus(pid int) string {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	var out strings.Builder
	if b, err := os.ReadFile(dir + "status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"State:", "PPid:", "NSpid:", "Sig", "Shd", "Uid:", "CapEff:"} {
				if strings.HasPrefix(l, k) {
					out.WriteString(l + "\n")
				}
			}
		}
	}
	for _, f := range []string{"wchan", "stack"} {
		b, _ := os.ReadFile(dir + f)
		out.WriteString(f + ": " + string(b) + "\n")
	}
	return out.String()
}
