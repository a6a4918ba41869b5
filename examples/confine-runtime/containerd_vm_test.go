package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/containerdbuild"
	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

// containerd end to end (tier 3): containerd, ctr and the runc shim, built
// from containerd's Go module on the host (internal/containerdbuild) and
// shipped into the VM, run containers from an image this test makes, with
// confine-runtime as the shim's runc (`ctr run --runc-binary`).
// `make test-containerd` runs it.

// envContainerd names the directory of the built binaries (the Makefile
// sets it and ships the directory into the VM).
const envContainerd = "CONFINE_CONTAINERD"

const (
	ctrdNS    = "confine-test" // containerd namespace: cgroupsPath is /confine-test/ID
	ctrdImage = "confine.test/busybox:latest"
	ctrdLimit = 16 << 20 // --memory-limit of the OOM subtest
)

// ctrd is a containerd of this test: its directories, socket and log
// below base, and the runtime the shim is told to run.
type ctrd struct {
	bins     *containerdbuild.Bins
	ns       string // the containerd namespace ctr works in
	base     string
	sock     string
	log      string
	runtime  string // a script running this test binary as confine-runtime
	runcRoot string // the shim's --runc-root; the runtime's --root is runcRoot/ctrdNS
	cmd      *exec.Cmd
}

func TestVMContainerd(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireRoot(t)
	testutil.RequireController(t, "memory")
	d := startContainerd(t, containerdBins(t))
	d.importImage(t, ctrdImage, []string{"sh"})
	for _, st := range []struct {
		name string
		fn   func(*testing.T)
	}{{"run", d.testRun}, {"tty", d.testTTY}, {"runtime-error", d.testRuntimeError},
		{"memory-limit", d.testMemoryLimit}, {"detached", d.testDetached}, {"task-ops", d.testTaskOps}} {
		t.Run(st.name, func(t *testing.T) {
			st.fn(t)
			d.checkNothingLeft(t)
		})
	}
}

// containerdBins finds the binaries the host built and shipped.
func containerdBins(t *testing.T) *containerdbuild.Bins {
	dir := os.Getenv(envContainerd)
	if dir == "" {
		t.Fatalf("$%s is not set: the VM cannot build containerd (no network, no Go); "+
			"`make test-containerd` (or `make test-vm` for this package) builds it on the host and ships it", envContainerd)
	}
	b, err := containerdbuild.Open(dir)
	if errors.Is(err, containerdbuild.ErrUnreachable) {
		// The one skip of this VM test (see internal/containerdbuild): the
		// host had no module proxy to build containerd from. CI fails.
		if os.Getenv("CI") != "" {
			t.Fatalf("%v ($CI is set: CI must build containerd)", err)
		}
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatalf("%v (was it shipped? make sets CONFINE_VM_FILES=$%s)", err, envContainerd)
	}
	return b
}

// startContainerd starts containerd with everything of its own below a
// temporary directory, and stops it when the test ends.
func startContainerd(t *testing.T, bins *containerdbuild.Bins) *ctrd {
	base := t.TempDir()
	d := &ctrd{bins: bins, ns: ctrdNS, base: base, sock: filepath.Join(base, "containerd.sock"),
		log: filepath.Join(base, "containerd.log"), runtime: filepath.Join(base, "confine-runtime"),
		runcRoot: filepath.Join(base, "runc")}
	writeRuntimeScript(t, d.runtime)
	// CRI (and with it CNI and pod sandboxes) is of no use to ctr and
	// slow to start under emulation.
	d.start(t, `disabled_plugins = ["io.containerd.grpc.v1.cri"]`)
	return d
}

// writeRuntimeScript writes an executable script at path running this
// test binary as confine-runtime: the VM has no Go toolchain to build
// confine-runtime, so the shim runs the test binary (TestMain) through it.
func writeRuntimeScript(t *testing.T, path string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nexport %s=1\nexec %s \"$@\"\n", envAsRuntime, exe)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// start writes containerd's config (root and state below d.base, the
// socket d.sock, then extra), starts it with its output in d.log, waits
// for it to answer, and stops it when the test ends.
func (d *ctrd) start(t *testing.T, extra string) {
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
%s

[grpc]
  address = %q
`, filepath.Join(d.base, "root"), filepath.Join(d.base, "state"), extra, d.sock)
	cfg := filepath.Join(d.base, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command(d.bins.Path("containerd"), "--config", cfg)
	// containerd finds the shim by name in PATH.
	d.cmd.Env = append(os.Environ(), "PATH="+d.bins.Dir+":"+os.Getenv("PATH"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(2 * time.Minute) // emulated CPU: containerd starts in seconds, not ms
	for {
		if _, _, code := d.ctr(t, "version"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s in 2 minutes\n%s", d.sock, d.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop stops containerd and removes the namespace's parent cgroup the
// runtime made.
func (d *ctrd) stop(t *testing.T) {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		<-done
		t.Errorf("containerd did not stop on SIGTERM in a minute")
	}
	if t.Failed() {
		t.Logf("containerd's log:\n%s", d.logTail())
	}
	if err := os.Remove(d.nsCgroup()); err != nil && !os.IsNotExist(err) {
		t.Errorf("removing %s: %v", d.nsCgroup(), err)
	}
}

func (d *ctrd) logTail() string {
	b, _ := os.ReadFile(d.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// ctr runs ctr against this containerd in d.ns.
func (d *ctrd) ctr(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return d.tool(t, 3*time.Minute, "ctr", append([]string{"--address", d.sock, "--namespace", d.ns}, args...)...)
}

// tool runs one of the built binaries (ctr, crictl) for at most limit and
// returns its output and exit status; a failure to run it, or a timeout,
// fails the test with containerd's log.
func (d *ctrd) tool(t *testing.T, limit time.Duration, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bins.Path(name), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v (%v)\nstderr: %s\ncontainerd's log:\n%s", name, strings.Join(args, " "), err, ctx.Err(), e.String(), d.logTail())
	}
	return o.String(), e.String(), code
}

// mustCtr runs ctr and fails the test unless it exits 0.
func (d *ctrd) mustCtr(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := d.ctr(t, args...)
	if code != 0 {
		t.Fatalf("ctr %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// runArgs are `ctr run`'s arguments putting confine-runtime in runc's place.
func (d *ctrd) runArgs(flags ...string) []string {
	return append([]string{"run", "--runc-binary", d.runtime, "--runc-root", d.runcRoot}, flags...)
}

func (d *ctrd) nsCgroup() string { return filepath.Join(testutil.UnifiedMount(), ctrdNS) }

// importImage makes an OCI archive of a busybox root running cmd, and
// imports it as image.
func (d *ctrd) importImage(t *testing.T, image string, cmd []string) {
	root := testutil.BusyboxRoot(t, []string{"proc", "sys", "dev", "tmp", "run", "etc"},
		"sh", "echo", "cat", "dd", "sleep", "tr", "true", "tty", "nc", "grep", "readlink")
	archive := filepath.Join(d.base, "image.tar")
	defer os.Remove(archive)
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeOCIArchive(f, root, image, cmd); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d.mustCtr(t, "images", "import", "--base-name", strings.Split(image, ":")[0], archive)
	if out := d.mustCtr(t, "images", "ls", "-q"); !strings.Contains(out, image) {
		t.Fatalf("ctr images ls after the import: %q, want %s", out, image)
	}
}

// testRun: a container runs through the shim and confine-runtime, and its
// output comes back through the shim's pipes: the shell is pid 1 of its
// own PID namespace, in the cgroup containerd asked for (/NS/ID).
func (d *ctrd) testRun(t *testing.T) {
	out := d.mustCtr(t, d.runArgs("--rm", ctrdImage, "c-run", "sh", "-c", "echo pid $$; cat /proc/self/cgroup")...)
	if want := "pid 1\n0::/" + ctrdNS + "/c-run\n"; out != want {
		t.Errorf("container output %q, want %q", out, want)
	}
	// The exit status comes back too.
	if _, errs, code := d.ctr(t, d.runArgs("--rm", ctrdImage, "c-exit", "sh", "-c", "exit 7")...); code != 7 {
		t.Errorf("ctr run of `exit 7`: exit %d, stderr %s", code, errs)
	}
}

// testTTY: `ctr run -t` has the shim make a console socket, the runtime's
// init send the container's pty master over it, and the shim copy between
// that and ctr's terminal (here a pty of the test's): the shell inside sees
// a terminal on its stdin, and its output comes back on ctr's terminal.
func (d *ctrd) testTTY(t *testing.T) {
	out := d.ctrTTY(t, d.runArgs("--rm", "-t", ctrdImage, "c-tty", "sh", "-c", "[ -t 0 ] && echo stdin is $(tty)")...)
	if out != "stdin is /dev/pts/0" {
		t.Errorf("ctr run -t: terminal output %q, want \"stdin is /dev/pts/0\"", out)
	}
}

// ctrTTY runs ctr in a session of its own with a pty as its terminal, and
// returns what it wrote there.
func (d *ctrd) ctrTTY(t *testing.T, args ...string) string {
	t.Helper()
	master, slave, err := namespace.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bins.Path("ctr"), append([]string{"--address", d.sock, "--namespace", d.ns}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	err = cmd.Start()
	slave.Close() // ctr holds it now: the master reads EIO once ctr exits
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, _ = out.ReadFrom(master) // until EIO
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ctr %s: %v (%v)\nterminal: %q", strings.Join(args, " "), err, ctx.Err(), out.String())
	}
	return strings.TrimSpace(out.String())
}

// testRuntimeError: what confine-runtime refuses reaches ctr's user
// through the shim (which reads the runtime's --log JSON), and the failed
// create leaves nothing: a systemd cgroup path (slice:prefix:name, as
// `--runc-systemd-cgroup` sends) is not supported.
func (d *ctrd) testRuntimeError(t *testing.T) {
	_, errs, code := d.ctr(t, d.runArgs("--rm", "--runc-systemd-cgroup", "--cgroup", "system.slice:confine:c-sd",
		ctrdImage, "c-sd", "true")...)
	t.Logf("ctr: %s", strings.TrimSpace(errs))
	if code == 0 || !strings.Contains(errs, "--systemd-cgroup") || !strings.Contains(errs, "not supported by confine-runtime") {
		t.Errorf("ctr run --runc-systemd-cgroup: exit %d, stderr %q: want a failure naming --systemd-cgroup as not supported", code, errs)
	}
}

// testMemoryLimit: `ctr run --memory-limit` reaches the kernel through the
// runtime: dd allocating 64 MiB under a 16 MiB limit is OOM-killed (exit
// 137, one more oom_kill in memory.events of the namespace's cgroup, which
// counts its children's), and 1 MiB under the same limit runs.
func (d *ctrd) testMemoryLimit(t *testing.T) {
	limit := strconv.Itoa(ctrdLimit)
	before := oomKills(t, d.nsCgroup())
	_, errs, code := d.ctr(t, d.runArgs("--rm", "--memory-limit", limit, ctrdImage, "c-oom",
		"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")...)
	if code != 137 {
		t.Errorf("dd bs=64M under --memory-limit %s: exit %d, want 137 (SIGKILL)\nstderr: %s", limit, code, errs)
	}
	if n := oomKills(t, d.nsCgroup()) - before; n != 1 {
		t.Errorf("oom_kill in %s/memory.events grew by %d, want 1", d.nsCgroup(), n)
	}
	_, errs, code = d.ctr(t, d.runArgs("--rm", "--memory-limit", limit, ctrdImage, "c-fits",
		"dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1")...)
	if code != 0 {
		t.Errorf("dd bs=1M under --memory-limit %s: exit %d\nstderr: %s", limit, code, errs)
	}
}

// oomKills reads the oom_kill counter of dir/memory.events (0 before the
// cgroup exists).
func oomKills(t *testing.T, dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "memory.events"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s/memory.events: %q", dir, l)
			}
			return n
		}
	}
	t.Fatalf("%s/memory.events has no oom_kill: %q", dir, b)
	return 0
}

// testDetached: a detached container runs in its cgroup with its runtime
// state in place; `ctr task exec` runs a process inside it; `ctr task
// kill`, `ctr task delete` and `ctr container delete` end it.
func (d *ctrd) testDetached(t *testing.T) {
	const id = "c-det"
	d.mustCtr(t, d.runArgs("-d", ctrdImage, id, "sleep", "1000")...)
	pid, status := d.task(t, id)
	if status != "RUNNING" {
		t.Fatalf("ctr task ls: %s is %s, want RUNNING", id, status)
	}
	cg := filepath.Join(d.nsCgroup(), id)
	if procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs")); err != nil || !strings.Contains("\n"+string(procs), "\n"+strconv.Itoa(pid)+"\n") {
		t.Errorf("task pid %d not in %s/cgroup.procs (%q, %v)", pid, cg, procs, err)
	}
	// What checkNothingLeft looks for is there while the container runs.
	left := strings.Join(d.leftovers(t), "\n")
	for _, k := range leftKinds {
		if !strings.Contains("\n"+left, "\n"+k+" ") {
			t.Errorf("no %s seen of a running container; seen:\n%s", k, left)
		}
	}
	rtRoot := filepath.Join(d.runcRoot, ctrdNS)
	if st := mustRT(t, rtRoot, "state", id); !strings.Contains(st, `"status": "running"`) {
		t.Errorf("confine-runtime --root %s state %s: %s", rtRoot, id, st)
	}
	t.Run("exec", func(t *testing.T) { d.testExec(t, id) })

	d.mustCtr(t, "task", "kill", "--signal", "SIGKILL", id)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, status = d.task(t, id); status == "STOPPED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s a minute after ctr task kill -s SIGKILL", id, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.mustCtr(t, "task", "delete", id)
	d.mustCtr(t, "container", "delete", id)
}

// testTaskOps: `ctr task pause` freezes the container (PAUSED, a counter
// loop stops advancing) and `ctr task resume` thaws it; `ctr task ps`
// lists exactly the container's processes; `ctr task metrics` returns its
// cgroup v2 stats (memory in use, pids).
func (d *ctrd) testTaskOps(t *testing.T) {
	const id = "c-ops"
	d.mustCtr(t, d.runArgs("-d", ctrdImage, id, "sh", "-c",
		"i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done")...)
	defer func() {
		d.ctr(t, "task", "resume", id)
		d.ctr(t, "task", "kill", "--signal", "SIGKILL", id)
		d.waitStatus(t, id, "STOPPED")
		d.mustCtr(t, "task", "delete", id)
		d.mustCtr(t, "container", "delete", id)
	}()
	pid, _ := d.task(t, id)
	// `echo $i > /tmp/n` truncates the file before it writes: a read in
	// between finds it empty, which is not the counter going back to 0.
	// An empty read is retried; a file that stays empty (frozen in
	// between) reads 0.
	counter := func() int {
		for range 20 {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/n", pid))
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return n
			}
			time.Sleep(5 * time.Millisecond)
		}
		return 0
	}
	// advancing: whether the counter moves within d. For "it runs" d is
	// generous (the TCG VM shares a busy host: a second without a turn
	// happens); "it is frozen" watches a whole second.
	advancing := func(d time.Duration) bool {
		n := counter()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if counter() > n {
				return true
			}
		}
		return false
	}
	if !advancing(10 * time.Second) {
		t.Fatalf("the counter loop does not run (at %d)", counter())
	}

	d.mustCtr(t, "task", "pause", id)
	if _, st := d.task(t, id); st != "PAUSED" {
		t.Errorf("ctr task ls after pause: %s, want PAUSED", st)
	}
	if st := mustRT(t, filepath.Join(d.runcRoot, ctrdNS), "state", id); !strings.Contains(st, `"status": "paused"`) {
		t.Errorf("confine-runtime state after pause: %s", st)
	}
	if advancing(time.Second) {
		t.Error("the counter advances in a paused container")
	}
	// Frozen, the process set is stable: ps must list exactly the cgroup's.
	cg := filepath.Join(d.nsCgroup(), id)
	procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(procs))
	var got []string
	for _, l := range strings.Split(d.mustCtr(t, "task", "ps", id), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			got = append(got, f[0])
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) || !slices.Contains(got, strconv.Itoa(pid)) {
		t.Errorf("ctr task ps: pids %v, want the cgroup's %v (init %d among them)", got, want, pid)
	}
	t.Logf("paused: counter at %d, ctr task ps pids %v", counter(), got)
	m := metrics(d.mustCtr(t, "task", "metrics", id))
	t.Logf("ctr task metrics: memory.usage %d, pids.current %d", m["memory.usage"], m["pids.current"])
	if m["memory.usage"] <= 0 || m["pids.current"] < 1 {
		t.Errorf("ctr task metrics: %v, want memory.usage > 0 and pids.current >= 1", m)
	}

	d.mustCtr(t, "task", "resume", id)
	if _, st := d.task(t, id); st != "RUNNING" {
		t.Errorf("ctr task ls after resume: %s, want RUNNING", st)
	}
	if !advancing(10 * time.Second) {
		t.Error("the counter does not advance after resume")
	}
}

// metrics parses `ctr task metrics`' table (METRIC VALUE).
func metrics(out string) map[string]int64 {
	m := map[string]int64{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

// waitStatus waits (a minute at most) for `ctr task ls` to show status.
func (d *ctrd) waitStatus(t *testing.T, id, status string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, st := d.task(t, id); st == status {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s still %s a minute later, want %s", id, st, status)
		}
	}
}

// testExec: `ctr task exec` (confine-runtime exec under the shim) runs a
// process in the container's PID namespace and cgroup, next to its init,
// and returns its output and exit status, with or without a terminal.
func (d *ctrd) testExec(t *testing.T, id string) {
	if r := rt(t, filepath.Join(d.runcRoot, ctrdNS), "exec", "--help"); strings.Contains(r.stderr, `unknown command "exec"`) {
		t.Fatalf("confine-runtime has no `exec` command, which `ctr task exec` runs: %s", strings.TrimSpace(r.stderr))
	}
	out := d.mustCtr(t, "task", "exec", "--exec-id", "e1", id, "sh", "-c",
		"echo pid $$; cat /proc/self/cgroup; tr '\\0' ' ' </proc/1/cmdline")
	lines := strings.Split(out, "\n")
	if len(lines) != 3 || lines[0] == "pid 1" || !strings.HasPrefix(lines[0], "pid ") ||
		lines[1] != "0::/"+ctrdNS+"/"+id || lines[2] != "sleep 1000 " {
		t.Errorf("exec output %q: want a pid other than 1, cgroup /%s/%s, and the init's `sleep 1000` as pid 1", out, ctrdNS, id)
	}
	if _, errs, code := d.ctr(t, "task", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("ctr task exec of `exit 3`: exit %d, stderr %s", code, errs)
	}
	// With a terminal: exec --tty --console-socket under the shim.
	if out := d.ctrTTY(t, "task", "exec", "-t", "--exec-id", "e3", id, "sh", "-c", "[ -t 0 ] && echo stdin is $(tty)"); !strings.HasPrefix(out, "stdin is /dev/pts/") {
		t.Errorf("ctr task exec -t: terminal output %q, want \"stdin is /dev/pts/N\"", out)
	}
}

// task returns the pid and status `ctr task ls` shows for id.
func (d *ctrd) task(t *testing.T, id string) (int, string) {
	t.Helper()
	out := d.mustCtr(t, "task", "ls")
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid, f[2]
		}
	}
	t.Fatalf("ctr task ls has no %s:\n%s", id, out)
	return 0, ""
}

// checkNothingLeft: once containers are deleted, nothing of them remains
// (the shim exits after its last container: it gets a little time).
func (d *ctrd) checkNothingLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := d.leftovers(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left 30s after the delete:\n%s", strings.Join(left, "\n"))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leftKinds are what leftovers looks for, each line it returns starting
// with one of them.
var leftKinds = []string{"container", "cgroup", "runtime state", "mount", "process"}

// leftovers lists what exists of this test's containers: containers in
// containerd, cgroups below the namespace's, confine-runtime state, mounts
// below containerd's and the runtime's directories, and processes (shims,
// runtimes, anything in the namespace's cgroups).
func (d *ctrd) leftovers(t *testing.T) []string {
	t.Helper()
	var left []string
	for _, id := range strings.Fields(d.mustCtr(t, "container", "ls", "-q")) {
		left = append(left, "container "+id)
	}
	if ents, err := os.ReadDir(d.nsCgroup()); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				left = append(left, "cgroup "+filepath.Join(d.nsCgroup(), e.Name()))
			}
		}
	}
	ents, _ := os.ReadDir(filepath.Join(d.runcRoot, ctrdNS))
	for _, e := range ents {
		left = append(left, "runtime state "+filepath.Join(d.runcRoot, ctrdNS, e.Name()))
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], d.base+"/") {
			left = append(left, "mount "+f[4])
		}
	}
	for _, p := range d.ownProcesses("/" + ctrdNS) {
		left = append(left, "process "+p)
	}
	return left
}

// ownProcesses lists the processes of this test's containers: shims,
// runtimes (this binary, other than the test itself), and anything in a
// cgroup below cgroup (a path in the unified hierarchy, "/" first).
func (d *ctrd) ownProcesses(cgroup string) []string {
	self, _ := os.Executable()
	ents, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || pid == d.cmd.Process.Pid {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if exe == self || exe == d.bins.Path("containerd-shim-runc-v2") || strings.Contains(string(cg), "::"+cgroup+"/") {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			left = append(left, fmt.Sprintf("%d %s (%s)", pid, bytes.ReplaceAll(bytes.TrimSpace(cmdline), []byte{0}, []byte{' '}), strings.TrimSpace(string(cg))))
		}
	}
	return left
}
