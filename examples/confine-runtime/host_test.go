package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/namespace"
)

// Tier 2: root on the host. No resources needing v1-bound controllers:
// the containers get the device program only (it works on the hybrid
// host's unified hierarchy).

func TestRunTrue(t *testing.T) {
	dir, cg := bundle(t, []string{"true"}, nil)
	root := stateRoot(t)
	mustRT(t, root, "run", "--bundle", dir, "c1")
	expectGone(t, cg, "", 0, 0)
}

func TestRunExitStatus(t *testing.T) {
	dir, _ := bundle(t, []string{"sh", "-c", "exit 3"}, nil)
	if r := rt(t, stateRoot(t), "run", "--bundle", dir, "c1"); r.code != 3 {
		t.Fatalf("exit %d, want the process's 3 (stderr %q)", r.code, r.stderr)
	}
}

func stateOf(t *testing.T, root, id string) specs.State {
	t.Helper()
	var st specs.State
	out := mustRT(t, root, "state", id)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("state JSON %q: %v", out, err)
	}
	return st
}

// waitFor polls cond (bounded, generous: the assertion is on the outcome,
// not on how long it took).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.ReplaceAll(strings.TrimSuffix(string(b), "\x00"), "\x00", " ")
}

// session returns field 6 of /proc/PID/stat.
func session(t *testing.T, pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f[3]
}

// expectGone checks the host after delete: no cgroup, no pins, no
// process, no mount of the rootfs in the host's mount table.
func expectGone(t *testing.T, cg, pins string, pid int, start uint64) {
	t.Helper()
	if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left: %v", cg, err)
	}
	if pins != "" {
		if _, err := os.Stat(pins); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("BPF pins %s left: %v", pins, err)
		}
	}
	if pid > 0 && sameProcess(pid, start) {
		t.Errorf("process %d still runs: %s", pid, cmdline(pid))
	}
}

// expectNoMounts checks the host's mount table never shows the bundle: the
// root is built in the container's own mount namespace.
func expectNoMounts(t *testing.T, bundle string) {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, bundle) {
			t.Errorf("host mount of the bundle: %s", l)
		}
	}
}

func TestLifecycle(t *testing.T) {
	out, withOut := outMount(t)
	script := "cat /proc/self/cgroup > /out/cg; touch /sys/x 2> /out/sys; echo $$ > /out/pid; exec sleep 1000"
	dir, cg := bundle(t, []string{"sh", "-c", script}, withOut)
	root := stateRoot(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustRT(t, root, "create", "--bundle", dir, "--pid-file", pidFile, "c1")

	st := stateOf(t, root, "c1")
	pid, _ := strconv.Atoi(readOut(t, filepath.Dir(pidFile), "pid"))
	if st.ID != "c1" || st.Status != specs.StateCreated || st.Pid != pid || pid <= 0 || st.Bundle != dir || st.Version == "" {
		t.Fatalf("state after create: %+v (pid file %d)", st, pid)
	}
	start := startTime(pid)
	// Created: set up, waiting before exec, alive though create exited.
	if got := cmdline(pid); got != "confine-init" {
		t.Fatalf("created container runs %q, want the waiting init", got)
	}
	if _, err := os.Stat(filepath.Join(out, "cg")); err == nil {
		t.Fatal("the process ran before start")
	}
	if s := session(t, pid); s != strconv.Itoa(pid) || s == session(t, os.Getpid()) {
		t.Errorf("session %s: want a session of its own (%d)", s, pid)
	}
	pins, _ := bpfpin.Dir(cg)
	if _, err := os.Stat(pins); err != nil {
		pins = "" // no bpffs on this host: nothing pinned
	}

	expectNoMounts(t, dir)
	mustRT(t, root, "start", "c1")
	waitFor(t, "the process to exec sleep", func() bool { return cmdline(pid) == "sleep 1000" })
	if st := stateOf(t, root, "c1"); st.Status != specs.StateRunning || st.Pid != pid {
		t.Errorf("state after start: %+v", st)
	}
	if got := readOut(t, out, "pid"); got != "1" {
		t.Errorf("process is pid %s in its namespace, want 1", got)
	}
	if cgs := readOut(t, out, "cg"); !strings.Contains(cgs+"\n", "0::/\n") {
		t.Errorf("/proc/self/cgroup in the container:\n%s\nwant 0::/ (a cgroup namespace rooted at its cgroup)", cgs)
	}
	if s := readOut(t, out, "sys"); !strings.Contains(s, "Read-only file system") {
		t.Errorf("touch /sys/x: %q, want EROFS", s)
	}
	if r := rt(t, root, "start", "c1"); r.code == 0 || !strings.Contains(r.stderr, "is running") {
		t.Errorf("second start: %d %q", r.code, r.stderr)
	}
	if r := rt(t, root, "delete", "c1"); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("delete of a running container: %d %q", r.code, r.stderr)
	}

	mustRT(t, root, "kill", "c1", "KILL")
	waitFor(t, "the container to stop", func() bool { return stateOf(t, root, "c1").Status == specs.StateStopped })
	var list []containerState
	if err := json.Unmarshal([]byte(mustRT(t, root, "list", "--format", "json")), &list); err != nil || len(list) != 1 || list[0].ID != "c1" {
		t.Errorf("list: %+v, %v", list, err)
	}
	mustRT(t, root, "delete", "c1")
	expectGone(t, cg, pins, pid, start)
	expectNoMounts(t, dir)
	if r := rt(t, root, "state", "c1"); r.code == 0 {
		t.Error("state of a deleted container succeeded")
	}
}

// TestDeleteCreatedAndForce: delete of a created (never started)
// container is an error with no effect (the runtime spec: only a stopped
// container may be deleted), --force kills its waiting init; delete
// --force of a running one kills the process.
func TestDeleteCreatedAndForce(t *testing.T) {
	dir, cg := bundle(t, []string{"sleep", "1000"}, nil)
	root := stateRoot(t)
	mustRT(t, root, "create", "--bundle", dir, "c1")
	st := stateOf(t, root, "c1")
	start := startTime(st.Pid)
	if r := rt(t, root, "delete", "c1"); r.code == 0 || !strings.Contains(r.stderr, "created") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("delete of a created container: exit %d %q, want an error naming its state and --force", r.code, r.stderr)
	}
	if st2 := stateOf(t, root, "c1"); st2.Status != specs.StateCreated || !sameProcess(st.Pid, start) {
		t.Errorf("after the refused delete: %+v (init alive: %v), want it still created", st2, sameProcess(st.Pid, start))
	}
	mustRT(t, root, "delete", "--force", "c1")
	expectGone(t, cg, "", st.Pid, start)

	dir2, cg2 := bundle(t, []string{"sleep", "1000"}, nil)
	mustRT(t, root, "run", "--detach", "--bundle", dir2, "c2")
	st = stateOf(t, root, "c2")
	if st.Status != specs.StateRunning {
		t.Fatalf("run --detach: %+v", st)
	}
	start = startTime(st.Pid)
	mustRT(t, root, "delete", "--force", "c2")
	expectGone(t, cg2, "", st.Pid, start)
	// delete --force of a container that does not exist is not an error
	// (engines retry it), without --force it is.
	mustRT(t, root, "delete", "--force", "c2")
	if r := rt(t, root, "delete", "c2"); r.code == 0 {
		t.Error("delete of a missing container succeeded")
	}
}

func TestUnsupportedConfigLeavesNothing(t *testing.T) {
	dir, cg := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"}
	})
	r := rt(t, stateRoot(t), "create", "--bundle", dir, "c1")
	if r.code != 1 || !strings.Contains(r.stderr, "linux.intelRdt") || !strings.Contains(r.stderr, "not supported") {
		t.Fatalf("exit %d, stderr %q: want 1 naming linux.intelRdt", r.code, r.stderr)
	}
	expectGone(t, cg, "", 0, 0)
}

func TestHooks(t *testing.T) {
	hooksOut := t.TempDir()
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(hooksOut, name)}}
	}
	// The process waits (up to a minute) for the poststart hook's file, so
	// that hook is given the state of a running container.
	wait := "i=0; while [ ! -e /out/poststart ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"
	dir, _ := bundle(t, []string{"sh", "-c", wait}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: hooksOut, Options: []string{"rbind", "ro"}})
		s.Hooks = &specs.Hooks{
			//lint:ignore SA1019 engines still send prestart hooks
			Prestart:      []specs.Hook{hook("prestart")},
			CreateRuntime: []specs.Hook{hook("createRuntime")},
			// A failing poststart or poststop hook warns, and the
			// remaining hooks still run.
			Poststart: []specs.Hook{{Path: "/bin/false"}, hook("poststart")},
			Poststop:  []specs.Hook{{Path: "/bin/false"}, hook("poststop")},
		}
	})
	r := rt(t, stateRoot(t), "run", "--bundle", dir, "c1")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: poststart hook 0") || !strings.Contains(r.stderr, "warning: poststop hook 0") {
		t.Fatalf("run: exit %d, stderr %q: want 0 with a warning for each failing hook", r.code, r.stderr)
	}
	for name, want := range map[string]specs.ContainerState{"prestart": specs.StateCreated, "createRuntime": specs.StateCreated,
		"poststart": specs.StateRunning, "poststop": specs.StateStopped} {
		var st specs.State
		if err := json.Unmarshal([]byte(readOut(t, hooksOut, name)), &st); err != nil || st.ID != "c1" || st.Status != want || st.Bundle != dir {
			t.Errorf("%s hook got %+v (%v), want status %s", name, st, err, want)
		}
		if want == specs.StateCreated && st.Pid <= 0 {
			t.Errorf("%s hook: no pid in %+v", name, st)
		}
	}
}

// With process.terminal the container's terminal is its own (from its
// devpts), and its master reaches the --console-socket listener over
// SCM_RIGHTS, as containerd's shim expects from runc.
func TestConsoleSocket(t *testing.T) {
	dir, cg := bundle(t, []string{"sh", "-c", "tty; echo done"}, func(s *specs.Spec) { s.Process.Terminal = true })
	root := stateRoot(t)
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type got struct {
		master *os.File
		err    error
	}
	ch := make(chan got, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			ch <- got{err: err}
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			ch <- got{err: err}
			return
		}
		defer f.Close()
		m, err := namespace.ReceiveConsole(f)
		ch <- got{m, err}
	}()
	mustRT(t, root, "create", "--bundle", dir, "--console-socket", sock, "t1")
	g := <-ch
	if g.err != nil {
		t.Fatalf("console socket: %v", g.err)
	}
	defer g.master.Close()
	st := stateOf(t, root, "t1")
	start := startTime(st.Pid)
	mustRT(t, root, "start", "t1")
	out, _ := io.ReadAll(g.master) // EIO once the container's side closed
	if !strings.Contains(string(out), "/dev/pts/0") || !strings.Contains(string(out), "done") {
		t.Errorf("container's terminal printed %q, want /dev/pts/0 then done", out)
	}
	waitFor(t, "the container to stop", func() bool { return stateOf(t, root, "t1").Status == specs.StateStopped })
	mustRT(t, root, "delete", "t1")
	expectGone(t, cg, "", st.Pid, start)
}

// kill delivers the named signal to a container's init that handles it,
// for every way runc's command line names one (name, SIG-prefixed name,
// number). This is what the conformance suite's killsig means to check;
// that program signals right after start, before its shell may have set
// its trap, and an init without a handler ignores the signal (see its
// verdict), so here the container first says it is ready.
func TestKillSignalReachesHandler(t *testing.T) {
	root := stateRoot(t)
	out, mount := outMount(t)
	for i, c := range []struct{ arg, trap string }{{"TERM", "TERM"}, {"SIGUSR1", "USR1"}, {"12", "USR2"}} {
		id := "k" + strconv.Itoa(i)
		script := "trap 'echo " + c.trap + " > /out/" + id + "; exit 3' " + c.trap +
			"; echo > /out/ready-" + id + "; sleep 100 & wait $!"
		dir, _ := bundle(t, []string{"sh", "-c", script}, mount)
		mustRT(t, root, "run", "--detach", "--bundle", dir, id)
		waitFor(t, id+" to set its trap", func() bool {
			_, err := os.Stat(filepath.Join(out, "ready-"+id))
			return err == nil
		})
		mustRT(t, root, "kill", id, c.arg)
		waitFor(t, id+" to stop", func() bool { return stateOf(t, root, id).Status == specs.StateStopped })
		if got := readOut(t, out, id); got != c.trap {
			t.Errorf("kill %s: the handler wrote %q, want %q", c.arg, got, c.trap)
		}
		mustRT(t, root, "delete", id)
	}
}
