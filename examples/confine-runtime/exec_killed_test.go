package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Tier 2 (root on the host): exec SIGKILLed at each of its steps, and from
// outside at delays spread over its run, must leave the container as it
// was: no process of its own inside (unless it was killed after handing
// the process over, and then only that process, fully set up), no setup
// process on the host, no fd into the state directory, no pid file that
// names anything but that process; and the container keeps working.

// execPhases are exec's steps in order, by --detach: the last is only
// reached in its mode. From execHandedOver on the process runs on its own
// and may outlive exec. Between execInStart and execHandedOver exec is in
// namespace.Cmd.Start, which hands the process over (releases it to
// execve) shortly before it returns: a kill there leaves either nothing
// or the process, fully set up.
var execPhases = map[bool][]string{
	true:  {"exec-locked", "exec-target-opened", "exec-sandbox-opened", "exec-started", "pid-file-staged", "exec-pid-file-written", "exec-detached"},
	false: {"exec-locked", "exec-target-opened", "exec-sandbox-opened", "exec-started", "exec-waiting"},
}

const (
	execInStart    = "exec-sandbox-opened"
	execHandedOver = "exec-started"
	execCommand    = "sleep 2000" // the killed exec's process, as its cmdline reads
	setupArgv0     = "confine-init"
)

func modeName(detach bool) string {
	if detach {
		return "detached"
	}
	return "foreground"
}

// TestExecKilled SIGKILLs `exec` at each of its steps, detached with a pid
// file and in the foreground, and checks what it left (see
// checkExecKilled).
func TestExecKilled(t *testing.T) {
	for _, detach := range []bool{true, false} {
		for _, ph := range execPhases[detach] {
			t.Run(modeName(detach)+"/"+ph, func(t *testing.T) {
				v := newExecVictim(t)
				cmd, log, pidDir := v.killableExec(t, detach)
				cmd.Env = append(cmd.Env, envKillAt+"="+ph)
				if err := cmd.Run(); !killed(err) {
					t.Fatalf("exec: %v, want it SIGKILLed at %s", err, ph)
				}
				reached := phasesIn(log)
				if len(reached) == 0 || reached[len(reached)-1] != ph {
					t.Fatalf("phases reached %q, want to stop at %s", reached, ph)
				}
				v.checkExecKilled(t, reached, pidDir)
				v.remove(t)
			})
		}
	}
}

// TestExecKilledRacing kills exec from outside after delays spread over
// the time a whole exec takes, so that kills land inside its steps too
// (above all inside namespace.Cmd.Start, while the setup process joins
// the container and forks the command), and checks each as
// TestExecKilled does. It logs after which step each kill landed.
func TestExecKilledRacing(t *testing.T) {
	for _, detach := range []bool{true, false} {
		t.Run(modeName(detach), func(t *testing.T) { execKilledRacing(t, detach) })
	}
}

func execKilledRacing(t *testing.T, detach bool) {
	v := newExecVictim(t)
	full := v.execDuration(t, detach)
	const tries = 30
	landed := map[string]int{}
	inStartLeft := 0 // kills inside Start that came after the hand-over
	for i := range tries {
		cmd, log, pidDir := v.killableExec(t, detach)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(full*time.Duration(i)/tries, func() { _ = cmd.Process.Kill() })
		err := cmd.Wait()
		timer.Stop()
		reached := phasesIn(log)
		after := "(start)"
		switch {
		case err == nil:
			after = "(finished)" // detached: the process is handed over
		case !killed(err):
			t.Fatalf("exec: %v", err)
		case len(reached) > 0:
			after = reached[len(reached)-1]
		}
		landed[after]++
		if v.checkExecKilled(t, reached, pidDir) > 0 && after == execInStart {
			inStartLeft++
		}
		if t.Failed() {
			t.Fatalf("after a kill past %q", after)
		}
	}
	v.remove(t)
	t.Logf("exec takes %v; %d kills landed after: %v; of those inside Start, %d came after it had handed the process over",
		full, tries, landed, inStartLeft)
	if landed[execInStart] == 0 {
		t.Logf("no kill landed inside namespace.Cmd.Start (after %s): the host was too noisy to hit it this time", execInStart)
	} else if landed[execInStart] == inStartLeft {
		t.Logf("no kill landed inside namespace.Cmd.Start before it handed the process over")
	}
}

// execVictim is a running container that execs are killed against, and
// what the host held of it before.
type execVictim struct {
	root, dir, cg, id string
	tmp               string // the test's temporary directories are below it
	init              proc
	procs             []proc   // its cgroup.procs
	stateEnts         []string // names in its state directory
	setups            []proc   // setup processes (confine-init) of this test on the host
	holders           []string // processes with an fd into --root
}

func newExecVictim(t *testing.T) *execVictim {
	dir, cg := bundle(t, []string{"sleep", "1000"}, nil)
	v := &execVictim{root: stateRoot(t), dir: dir, cg: cg, id: "x1", tmp: filepath.Dir(dir)}
	mustRT(t, v.root, "run", "--detach", "--bundle", dir, v.id)
	t.Cleanup(func() { rt(t, v.root, "delete", "--force", v.id) }) // after a Fatal
	pid := stateOf(t, v.root, v.id).Pid
	v.init = proc{pid, startTime(pid)}
	v.procs = livingIn(cg)
	v.stateEnts = dirNames(filepath.Join(v.root, v.id))
	v.setups = setupProcs(v.tmp)
	v.holders = fdHolders(v.root)
	if !slices.Contains(v.procs, v.init) {
		t.Fatalf("init %d not in %s: %v", pid, cg, v.procs)
	}
	return v
}

// killableExec is `exec [--detach --pid-file DIR/pid] x1 sleep 2000`
// logging its phases. Its stdio are files, so that a process that outlives
// it holds no pipe the test waits on.
func (v *execVictim) killableExec(t *testing.T, detach bool) (cmd *exec.Cmd, log, pidDir string) {
	tmp := t.TempDir()
	log, pidDir = filepath.Join(tmp, "phases"), filepath.Join(tmp, "piddir")
	if err := os.Mkdir(pidDir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"exec"}
	if detach {
		args = append(args, "--detach", "--pid-file", filepath.Join(pidDir, "pid"))
	}
	cmd = runtimeCmd(t, v.root, append(args, v.id, "sleep", "2000")...)
	cmd.Env = append(cmd.Env, envPhaseLog+"="+log)
	out, err := os.Create(filepath.Join(tmp, "stdio"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, log, pidDir
}

// execDuration is how long a whole exec takes (the slowest of three), up
// to the moment its process runs; the process is killed after each.
func (v *execVictim) execDuration(t *testing.T, detach bool) time.Duration {
	var full time.Duration
	for range 3 {
		cmd, _, _ := v.killableExec(t, detach)
		begin := time.Now()
		if detach {
			if err := cmd.Run(); err != nil {
				t.Fatalf("exec: %v", err)
			}
		} else {
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			v.waitExtra(t, 1, 1)
		}
		full = max(full, time.Since(begin))
		v.killExtra(t)
		if !detach {
			cmd.Wait()
		}
	}
	return full
}

// checkExecKilled checks the host after an exec killed past the phases
// reached: before the hand-over nothing of it may remain; after it, only
// its process, as the command (not a setup process), in the container's
// PID namespace, with the container's capabilities and no fd but its
// stdio, and named by the pid file if one was written. The container
// answers state and list, runs, takes another exec and is left as it was.
// It returns how many processes the exec left.
func (v *execVictim) checkExecKilled(t *testing.T, reached []string, pidDir string) int {
	t.Helper()
	least, most := 0, 0
	switch {
	case slices.Contains(reached, execHandedOver):
		least, most = 1, 1
	case len(reached) > 0 && reached[len(reached)-1] == execInStart:
		most = 1
	}
	extra := v.waitExtra(t, least, most)
	if len(extra) > 0 {
		v.checkHandedOver(t, extra[0])
	}
	v.checkPidDir(t, pidDir, extra, slices.Contains(reached, "exec-pid-file-written"))
	if got := dirNames(filepath.Join(v.root, v.id)); !slices.Equal(got, v.stateEnts) {
		t.Errorf("state directory holds %q, held %q before the exec", got, v.stateEnts)
	}
	for _, h := range fdHolders(v.root) {
		if !slices.Contains(v.holders, h) {
			t.Errorf("a process keeps an fd into --root: %s", h)
		}
	}
	checkStateAnswers(t, v.root, v.id)
	if st := stateOf(t, v.root, v.id); st.Status != specs.StateRunning || st.Pid != v.init.pid {
		t.Errorf("container after the killed exec: %+v, want it running with init %d", st, v.init.pid)
	}
	v.killExtra(t)
	if out := mustRT(t, v.root, "exec", v.id, "echo", "usable"); strings.TrimSpace(out) != "usable" {
		t.Errorf("a later exec printed %q", out)
	}
	if got := livingIn(v.cg); !slices.Equal(got, v.procs) {
		t.Errorf("container's processes %v after a later exec, want %v", got, v.procs)
	}
	return len(extra)
}

// waitExtra waits (10s at most) until the container holds least to most
// processes besides those it ran before, each of them the exec'd command,
// and no setup process runs on the host; it returns those extra
// processes. A setup process on its way out (killed, or done) has no
// command line any more: it is waited for too.
func (v *execVictim) waitExtra(t *testing.T, least, most int) []proc {
	t.Helper()
	var extra, setups []proc
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		extra, setups = v.extraProcs(), v.newSetups()
		settled := !slices.ContainsFunc(extra, func(p proc) bool { return cmdline(p.pid) != execCommand })
		if len(extra) >= least && len(extra) <= most && len(setups) == 0 && settled {
			return extra
		}
		if time.Now().After(end) {
			break
		}
	}
	for _, p := range setups {
		t.Errorf("a setup process outlived exec: %s", describe(p.pid))
	}
	if len(extra) < least || len(extra) > most {
		var ds []string
		for _, p := range extra {
			ds = append(ds, describe(p.pid))
		}
		t.Errorf("the container runs %d processes more than before, want %d to %d: %s", len(extra), least, most, strings.Join(ds, "; "))
	}
	return extra
}

func (v *execVictim) extraProcs() []proc {
	var out []proc
	for _, p := range livingIn(v.cg) {
		if !slices.Contains(v.procs, p) && p.alive() {
			out = append(out, p)
		}
	}
	return out
}

func (v *execVictim) newSetups() []proc {
	var out []proc
	for _, p := range setupProcs(v.tmp) {
		if !slices.Contains(v.setups, p) {
			out = append(out, p)
		}
	}
	return out
}

// checkHandedOver checks the process a killed exec left: the command
// itself, in the container's PID namespace, with the capabilities of the
// container's init and no fds but 0, 1 and 2.
func (v *execVictim) checkHandedOver(t *testing.T, p proc) {
	t.Helper()
	if got := cmdline(p.pid); got != execCommand {
		t.Errorf("process %d left in the container is %q, want the exec'd %q: %s", p.pid, got, execCommand, describe(p.pid))
	}
	pidns := func(pid int) string { s, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid"); return s }
	if a, b := pidns(p.pid), pidns(v.init.pid); a == "" || a != b {
		t.Errorf("process %d in PID namespace %q, the container's is %q", p.pid, a, b)
	}
	if a, b := statusField(p.pid, "CapEff"), statusField(v.init.pid, "CapEff"); a != b {
		t.Errorf("process %d has CapEff %s, the container's init %s", p.pid, a, b)
	}
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.pid) + "/fd")
	if err != nil {
		t.Errorf("fds of %d: %v", p.pid, err)
	}
	for _, e := range ents {
		if n, _ := strconv.Atoi(e.Name()); n > 2 {
			l, _ := os.Readlink("/proc/" + strconv.Itoa(p.pid) + "/fd/" + e.Name())
			t.Errorf("process %d left in the container holds fd %s: %s", p.pid, e.Name(), l)
		}
	}
}

// checkPidDir checks the pid file's directory: nothing but the pid file,
// which (when written) names the process extra holds, alive.
func (v *execVictim) checkPidDir(t *testing.T, dir string, extra []proc, written bool) {
	t.Helper()
	checkBesidePidFile(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if written {
			t.Errorf("pid file missing after exec-pid-file-written")
		}
		return
	case err != nil:
		t.Errorf("pid file: %v", err)
		return
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid <= 0 {
		t.Errorf("pid file holds %q", b)
		return
	}
	if len(extra) == 0 {
		t.Errorf("pid file names %d (%s), but no process of the exec runs", pid, describe(pid))
		return
	}
	if pid != extra[0].pid || !extra[0].alive() {
		t.Errorf("pid file names %d, the exec's process is %d", pid, extra[0].pid)
	}
}

// killExtra kills the processes the container runs beyond those it ran
// before (through pidfds checked against their start times) and waits for
// them to leave its cgroup.
func (v *execVictim) killExtra(t *testing.T) {
	t.Helper()
	for _, p := range v.extraProcs() {
		fd, err := unix.PidfdOpen(p.pid, 0)
		if err != nil {
			continue
		}
		if p.alive() {
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		}
		unix.Close(fd)
	}
	waitFor(t, "the exec'd process to leave the container", func() bool { return len(v.extraProcs()) == 0 })
}

// remove deletes the container with delete --force and checks that
// nothing of it is left.
func (v *execVictim) remove(t *testing.T) {
	t.Helper()
	mustRT(t, v.root, "delete", "--force", v.id)
	if _, err := os.Stat(filepath.Join(v.root, v.id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory left: %v", err)
	}
	expectGone(t, v.cg, "", v.init.pid, v.init.start)
	expectNoMounts(t, v.dir)
	for _, p := range v.newSetups() {
		t.Errorf("setup process left: %s", describe(p.pid))
	}
}

// setupProcs lists the processes on the host whose command line is the
// setup process's (the init of namespace.Cmd, or the command it forked
// before execve) and that hold an fd below dir: those of the runtimes
// this test started, whose stdio are files there. Other runs on the host
// (another worktree's tests) have setup processes of their own.
func setupProcs(dir string) []proc {
	var out []proc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cmdline(pid) == setupArgv0 && holdsBelow(pid, dir) {
			if p := (proc{pid, startTime(pid)}); p.start != 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// holdsBelow reports whether process pid has an fd open below dir.
func holdsBelow(pid int, dir string) bool {
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	for _, fd := range fds {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, dir+"/") {
			return true
		}
	}
	return false
}

// fdHolders lists "PID fd N -> PATH" for every fd below dir that a process
// other than this one holds.
func fdHolders(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + e.Name() + "/fd")
		for _, fd := range fds {
			l, err := os.Readlink("/proc/" + e.Name() + "/fd/" + fd.Name())
			if err == nil && (l == dir || strings.HasPrefix(l, dir+"/")) {
				out = append(out, e.Name()+" fd "+fd.Name()+" -> "+l+" ("+cmdline(pid)+")")
			}
		}
	}
	return out
}

// checkBesidePidFile checks that dir, where a killed runtime was to write
// its pid file "pid", holds nothing else (no temporary file).
func checkBesidePidFile(t *testing.T, dir string) {
	t.Helper()
	for _, n := range dirNames(dir) {
		if n != "pid" {
			t.Errorf("left beside the pid file: %s", n)
		}
	}
}

// TestWritePidFile: the pid file is written whole, over an older one, and
// nothing else is left in its directory.
func TestWritePidFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pid")
	for _, pid := range []int{123, 4567} {
		if err := writePidFile(p, pid); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != strconv.Itoa(pid) {
			t.Errorf("pid file holds %q (%v), want %d", b, err, pid)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm()&^0o644 != 0 || st.Mode().Perm()&0o600 != 0o600 {
			t.Errorf("pid file mode: %v %v", st, err)
		}
	}
	checkBesidePidFile(t, dir)
	if err := writePidFile(filepath.Join(dir, "nosuchdir", "pid"), 1); err == nil {
		t.Error("a pid file in a missing directory was written")
	}
}

func dirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// statusField is a field of /proc/PID/status.
func statusField(pid int, key string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	return statusOf(string(b))[key]
}

// describe names a process for a failure message.
func describe(pid int) string {
	var fds []string
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	for _, e := range ents {
		l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + e.Name())
		fds = append(fds, e.Name()+"->"+l)
	}
	return strconv.Itoa(pid) + " " + strconv.Quote(cmdline(pid)) + " PPid " + statusField(pid, "PPid") +
		" CapEff " + statusField(pid, "CapEff") + " NSpid " + statusField(pid, "NSpid") + " fds " + strings.Join(fds, ",")
}
