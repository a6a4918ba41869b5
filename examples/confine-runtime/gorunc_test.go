package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
)

// TestGoRuncClient drives the runtime through containerd's go-runc, the
// client containerd's runc shim uses: its command lines, flags and output
// parsing (Container, features) must work unchanged against confine-runtime.
func TestGoRuncClient(t *testing.T) {
	dir, cg := bundle(t, []string{"sleep", "1000"}, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envAsRuntime, "1") // go-runc runs Command with this process's environment
	r := &runc.Runc{Command: exe, Root: stateRoot(t), Log: filepath.Join(t.TempDir(), "log.json"), LogFormat: runc.JSON}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nullIO, err := runc.NewNullIO()
	if err != nil {
		t.Fatal(err)
	}
	defer nullIO.Close()
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := r.Create(ctx, "g1", dir, &runc.CreateOpts{IO: nullIO, PidFile: pidFile}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	c, err := r.State(ctx, "g1")
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	b, _ := os.ReadFile(pidFile)
	if c.ID != "g1" || c.Status != "created" || strconv.Itoa(c.Pid) != string(b) || c.Bundle != dir || c.Created.IsZero() {
		t.Fatalf("State after Create: %+v (pid file %q)", c, b)
	}
	start := startTime(c.Pid)
	if err := r.Start(ctx, "g1"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].Status != "running" || list[0].Pid != c.Pid {
		t.Fatalf("List: %+v, %v", list, err)
	}
	goRuncOps(ctx, t, r, "g1", c.Pid, cg)
	execPid := goRuncExec(ctx, t, r, "g1", cg)
	execStart := startTime(execPid)
	if err := r.Kill(ctx, "g1", int(unix.SIGKILL), &runc.KillOpts{All: true}); err != nil {
		t.Fatalf("Kill --all: %v", err)
	}
	waitFor(t, "the container to stop", func() bool {
		c, err := r.State(ctx, "g1")
		return err == nil && c.Status == "stopped"
	})
	if err := r.Delete(ctx, "g1", &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	expectGone(t, cg, "", c.Pid, start)
	if sameProcess(execPid, execStart) {
		t.Errorf("the detached exec'd process %d survived kill --all and delete", execPid)
	}
	// A failure comes back as an error carrying the runtime's message.
	if err := r.Start(ctx, "g1"); err == nil {
		t.Error("Start of a deleted container succeeded")
	}
	f, err := r.Features(ctx)
	if err != nil || f.Linux == nil || f.Linux.Cgroup == nil || !*f.Linux.Cgroup.V2 {
		t.Errorf("Features: %+v, %v", f, err)
	}
	if _, err := r.Version(ctx); err != nil {
		t.Errorf("Version: %v", err)
	}
	dir2, _ := bundle(t, []string{"true"}, nil)
	status, err := r.Run(ctx, "g2", dir2, &runc.CreateOpts{IO: nullIO})
	if err != nil || status != 0 {
		t.Errorf("Run true: %d, %v", status, err)
	}
}

// goRuncExec runs processes in container id through go-runc's Exec, as
// containerd's shim does: attached (its stdout through go-runc's pipes,
// its exit status as go-runc's *ExitError) and detached (a pid file). It
// returns the detached process's pid, still running in the container's
// cgroup.
func goRuncExec(ctx context.Context, t *testing.T, r *runc.Runc, id, cg string) int {
	t.Helper()
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pio.Close()
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pio.Stdout())
		out <- string(b)
	}()
	proc := specs.Process{Args: []string{"sh", "-c", "cat /proc/1/cmdline; echo; grep '^0::' /proc/self/cgroup; exit 3"},
		Cwd: "/", Env: []string{"PATH=/bin"}}
	err = r.Exec(ctx, id, proc, &runc.ExecOpts{IO: pio})
	var ee *runc.ExitError
	if !errors.As(err, &ee) || ee.Status != 3 {
		t.Errorf("attached Exec: %v, want go-runc's *ExitError with status 3", err)
	}
	// Exec closed go-runc's copy of the write end after the start: the
	// reader sees EOF once the process has exited.
	if got := <-out; got != "sleep\x001000\x00\n0::/\n" {
		t.Errorf("attached Exec printed %q, want the container's init and 0::/", got)
	}
	nullIO, err := runc.NewNullIO()
	if err != nil {
		t.Fatal(err)
	}
	defer nullIO.Close()
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	sock, err := runc.NewTempPidfdSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	pidfds := make(chan *os.File, 1)
	go func() {
		f, _ := sock.ReceivePidfd()
		pidfds <- f
	}()
	proc.Args = []string{"sleep", "2000"}
	if err := r.Exec(ctx, id, proc, &runc.ExecOpts{IO: nullIO, Detach: true, PidFile: pidFile, PidfdSocket: sock}); err != nil {
		t.Fatalf("detached Exec: %v", err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(b))
	if pid <= 0 || cmdline(pid) != "sleep 2000" || !contains(cgroupProcs(t, cg), strconv.Itoa(pid)) {
		t.Fatalf("detached Exec: pid file %q, process %q, cgroup %v", b, cmdline(pid), cgroupProcs(t, cg))
	}
	// The pidfd sent to --pidfd-socket is the process's (fdinfo names it).
	if f := <-pidfds; f == nil {
		t.Error("no pidfd received on the --pidfd-socket")
	} else {
		info, _ := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
		if !strings.Contains(string(info), fmt.Sprintf("Pid:\t%d\n", pid)) {
			t.Errorf("pidfd from the socket: fdinfo %q, want Pid %d", info, pid)
		}
		f.Close()
	}
	return pid
}

// goRuncOps drives pause, resume, ps, top, stats, events and update of a
// running container (its init is pid, its cgroup cg) through go-runc, and
// checks what its own types parsed against the kernel.
func goRuncOps(ctx context.Context, t *testing.T, r *runc.Runc, id string, pid int, cg string) {
	t.Helper()
	if err := r.Pause(ctx, id); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if c, err := r.State(ctx, id); err != nil || c.Status != "paused" || !frozenByKernel(t, cg) {
		t.Errorf("State after Pause: %+v, %v", c, err)
	}
	if err := r.Resume(ctx, id); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if c, err := r.State(ctx, id); err != nil || c.Status != "running" || frozenByKernel(t, cg) {
		t.Errorf("State after Resume: %+v, %v", c, err)
	}
	if pids, err := r.Ps(ctx, id); err != nil || !slices.Equal(pids, []int{pid}) {
		t.Errorf("Ps: %v, %v; want [%d]", pids, err, pid)
	}
	top, err := r.Top(ctx, id, "")
	if err != nil || len(top.Processes) != 1 || !slices.Contains(top.Processes[0], strconv.Itoa(pid)) ||
		!strings.Contains(strings.Join(top.Processes[0], " "), "sleep 1000") {
		t.Errorf("Top: %+v, %v", top, err)
	}
	usage := cpuUsageUsec(t, cg)
	st, err := r.Stats(ctx, id)
	if err != nil || st.Cpu.Usage.Total == 0 || st.Cpu.Usage.Total/1000 > cpuUsageUsec(t, cg) || st.Cpu.Usage.Total/1000 < usage {
		t.Errorf("Stats: %+v, %v (kernel: %d µs)", st, err, usage)
	}
	ectx, cancel := context.WithCancel(ctx)
	events, err := r.Events(ectx, id, time.Second)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if e := <-events; e == nil || e.Type != "stats" || e.ID != id || e.Stats == nil || e.Stats.Cpu.Usage.Total == 0 {
		t.Errorf("Events: first %+v", e)
	}
	cancel()
	for range events { // the stream ends with its process
	}
	// Update through go-runc's --resources=-: hugetlb is in cgroup v2 on
	// this host and in the VM alike.
	h, err := cgroup.Detect()
	if err != nil || len(h.HugePageSizes) == 0 || cgroup.HaveController("hugetlb") != nil {
		t.Logf("no hugetlb controller: Update not driven (%v)", err)
		return
	}
	size := h.HugePageSizes[0]
	limit := uint64(4 << 30)
	if err := r.Update(ctx, id, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: size, Limit: limit}}}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(cg, "hugetlb."+size+".max")); err != nil || strings.TrimSpace(string(b)) != strconv.FormatUint(limit, 10) {
		t.Errorf("hugetlb.%s.max after Update: %q, %v", size, b, err)
	}
}

// containerd's shim installs its own process monitor, and so do these
// tests, for good (go-runc's goroutines read the variable until they end):
// go-runc's default one waits for every command at once, and that Wait
// closes the stdout pipe under Events' reader, which then yields "error"
// events forever (go-runc v1.2.1).
func init() { runc.Monitor = waitWhenAsked{} }

// waitWhenAsked is a go-runc ProcessMonitor that reaps a command in Wait,
// which go-runc calls once it is done with the command's output.
type waitWhenAsked struct{}

func (waitWhenAsked) Start(c *exec.Cmd) (chan runc.Exit, error) {
	if err := c.Start(); err != nil {
		return nil, err
	}
	return nil, nil
}

func (m waitWhenAsked) StartLocked(c *exec.Cmd) (chan runc.Exit, error) { return m.Start(c) }

func (waitWhenAsked) Wait(c *exec.Cmd, _ chan runc.Exit) (int, error) {
	err := c.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 255, err
	}
	return c.ProcessState.ExitCode(), nil
}
