package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/cgroup"
)

// Tier 2 (and, through the TestVM wrappers, tier 3): pause, resume, ps,
// events, update on containers made by the runtime as separate processes.

// applets adds busybox applets to a bundle's rootfs.
func applets(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Symlink("busybox", filepath.Join(dir, "root", "bin", n)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
}

// counter starts a detached container that increments /out/n every 20 ms.
func counter(t *testing.T, root, id string) (out, cg string) {
	t.Helper()
	out, withOut := outMount(t)
	dir, cg := bundle(t, []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; sleep 0.02; done"}, withOut)
	applets(t, dir, "mv")
	mustRT(t, root, "run", "--detach", "--bundle", dir, id)
	return out, cg
}

func readCount(t *testing.T, out string) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(out, "n"))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// frozenByKernel reads the kernel's verdict in cgroup.events.
func frozenByKernel(t *testing.T, cg string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.events"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), "frozen 1")
}

func TestPauseResume(t *testing.T) { testPauseResume(t) }

// testPauseResume: pause freezes the container (the kernel says frozen,
// and its counter stops advancing), state says paused, resume lets the
// counter run on; commands that do not fit the state are refused; a paused
// container is deleted with --force.
func testPauseResume(t *testing.T) {
	root := stateRoot(t)
	out, cg := counter(t, root, "p1")
	waitFor(t, "the counter to run", func() bool { return readCount(t, out) > 2 })
	if r := rt(t, root, "resume", "p1"); r.code == 0 || !strings.Contains(r.stderr, "is running") {
		t.Errorf("resume of a running container: %d %q", r.code, r.stderr)
	}
	mustRT(t, root, "pause", "p1")
	if st := stateOf(t, root, "p1"); st.Status != statePaused || !frozenByKernel(t, cg) {
		t.Fatalf("after pause: status %q, kernel frozen %v", st.Status, frozenByKernel(t, cg))
	}
	n := readCount(t, out)
	time.Sleep(500 * time.Millisecond) // 25 increments' worth
	if m := readCount(t, out); m != n {
		t.Errorf("counter advanced from %d to %d while paused", n, m)
	}
	if r := rt(t, root, "pause", "p1"); r.code == 0 || !strings.Contains(r.stderr, "is paused") {
		t.Errorf("pause of a paused container: %d %q", r.code, r.stderr)
	}
	if r := rt(t, root, "delete", "p1"); r.code == 0 {
		t.Error("delete of a paused container without --force succeeded")
	}
	mustRT(t, root, "resume", "p1")
	if st := stateOf(t, root, "p1"); st.Status != specs.StateRunning || frozenByKernel(t, cg) {
		t.Errorf("after resume: status %q", st.Status)
	}
	waitFor(t, "the counter to advance after resume", func() bool { return readCount(t, out) > n })
	mustRT(t, root, "pause", "p1")
	st := stateOf(t, root, "p1")
	start := startTime(st.Pid)
	mustRT(t, root, "delete", "--force", "p1")
	expectGone(t, cg, "", st.Pid, start)
}

// A created container can be paused too (runc allows it); it cannot be
// started while paused.
func TestPauseCreated(t *testing.T) {
	root := stateRoot(t)
	dir, cg := bundle(t, []string{"true"}, nil)
	mustRT(t, root, "create", "--bundle", dir, "c1")
	mustRT(t, root, "pause", "c1")
	if st := stateOf(t, root, "c1"); st.Status != statePaused || !frozenByKernel(t, cg) {
		t.Fatalf("paused created container: %+v", st)
	}
	if r := rt(t, root, "start", "c1"); r.code == 0 {
		t.Error("start of a paused container succeeded")
	}
	mustRT(t, root, "resume", "c1")
	if st := stateOf(t, root, "c1"); st.Status != specs.StateCreated {
		t.Errorf("resumed created container: %+v", st)
	}
	// Still created: only --force deletes it (the runtime spec).
	mustRT(t, root, "delete", "--force", "c1")
	expectGone(t, cg, "", 0, 0)
}

func TestPs(t *testing.T) {
	root := stateRoot(t)
	dir, cg := bundle(t, []string{"sh", "-c", "sleep 1000 & sleep 1001 & wait"}, nil)
	mustRT(t, root, "run", "--detach", "--bundle", dir, "ps1")
	defer mustRT(t, root, "delete", "--force", "ps1")
	waitFor(t, "three processes", func() bool { return len(cgroupTreePids(t, cg)) == 3 })
	// A nested cgroup's process counts too (a container's own subtree).
	procs := cgroupTreePids(t, cg)
	sub := filepath.Join(cg, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(strconv.Itoa(procs[2])), 0o644); err != nil {
		t.Fatal(err)
	}
	var pids []int
	if err := json.Unmarshal([]byte(mustRT(t, root, "ps", "--format", "json", "ps1")), &pids); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, procs) {
		t.Errorf("ps --format json = %v, want the cgroup tree's %v", pids, procs)
	}
	table := mustRT(t, root, "ps", "ps1", "-o", "pid,args")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || strings.Fields(lines[0])[0] != "PID" || !strings.Contains(table, "sleep 1001") {
		t.Errorf("ps table:\n%s\nwant the header and three lines", table)
	}
	for _, l := range lines[1:] {
		if pid, _ := strconv.Atoi(strings.Fields(l)[0]); !slices.Contains(procs, pid) {
			t.Errorf("ps table line of a process outside the container: %q", l)
		}
	}
}

// cgroupTreePids reads the container cgroup's tree from the kernel, sorted.
func cgroupTreePids(t *testing.T, cg string) []int {
	t.Helper()
	var out []int
	filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				n, _ := strconv.Atoi(f)
				out = append(out, n)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// cpuUsageUsec reads usage_usec from the cgroup's cpu.stat.
func cpuUsageUsec(t *testing.T, cg string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cg, "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	n, _ := strconv.ParseUint(f[slices.Index(f, "usage_usec")+1], 10, 64)
	return n
}

func TestEventsStats(t *testing.T) { testEventsStats(t) }

// testEventsStats: events --stats prints one runc stats event whose CPU
// time lies between two readings of the kernel's cpu.stat around it; with
// memory and pids controllers (VM), usage and limits are the kernel's too.
func testEventsStats(t *testing.T) {
	root := stateRoot(t)
	limit, pidsMax := int64(64<<20), int64(50)
	out, withOut := outMount(t)
	dir, cg := bundle(t, []string{"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; touch /out/done; exec sleep 1000"}, func(s *specs.Spec) {
		withOut(s)
		if cgroup.HaveController("memory") == nil && cgroup.HaveController("pids") == nil {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pidsMax}
		}
	})
	mustRT(t, root, "run", "--detach", "--bundle", dir, "e1")
	defer mustRT(t, root, "delete", "--force", "e1")
	// Once the loop is done the container only sleeps: its CPU time stands
	// still, and the reported time must be exactly the kernel's.
	waitFor(t, "the loop to finish", func() bool { _, err := os.Stat(filepath.Join(out, "done")); return err == nil })
	waitFor(t, "the CPU time to settle", func() bool {
		a := cpuUsageUsec(t, cg)
		time.Sleep(50 * time.Millisecond)
		return cpuUsageUsec(t, cg) == a
	})
	before := cpuUsageUsec(t, cg)
	line := mustRT(t, root, "events", "--stats", "e1")
	after := cpuUsageUsec(t, cg)
	var ev runcEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type != "stats" || ev.ID != "e1" || ev.Data == nil {
		t.Fatalf("events --stats: %q (%v)", line, err)
	}
	if got := ev.Data.CPU.Usage.Total / 1000; got < before || got > after || got == 0 {
		t.Errorf("cpu usage %d µs, want between the kernel's %d and %d", got, before, after)
	}
	if cgroup.HaveController("memory") != nil {
		t.Logf("no memory controller in cgroup v2 here: memory and pids stay empty, as runc reports them")
		return
	}
	m := ev.Data.Memory
	if m.Usage.Limit != uint64(limit) || m.Usage.Usage == 0 || m.Usage.Max < m.Usage.Usage || m.Raw["anon"] == 0 {
		t.Errorf("memory %+v: want usage, peak and the 64 MiB limit", m.Usage)
	}
	if p := ev.Data.Pids; p.Current != uint64(len(cgroupTreePids(t, cg))) || p.Limit != uint64(pidsMax) {
		t.Errorf("pids %+v, want %d of %d", p, len(cgroupTreePids(t, cg)), pidsMax)
	}
}

// streamEvents starts `events --interval D ID` and returns its decoded
// events as they come, and a function that waits for the stream's end
// and returns the runtime's exit error.
func streamEvents(t *testing.T, root, id, interval string) (<-chan runcEvent, func() error) {
	t.Helper()
	cmd := runtimeCmd(t, root, "events", "--interval", interval, id)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan runcEvent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(io.LimitReader(stdout, 16<<20))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev runcEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				ch <- ev
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done; _ = cmd.Wait() })
	return ch, func() error {
		<-done
		return cmd.Wait()
	}
}

// The stream reports stats every interval and ends, successfully, once
// the container's processes are gone.
func TestEventsStream(t *testing.T) {
	root := stateRoot(t)
	dir, _ := bundle(t, []string{"sleep", "1000"}, nil)
	mustRT(t, root, "run", "--detach", "--bundle", dir, "s1")
	ch, wait := streamEvents(t, root, "s1", "100ms")
	for i := 0; i < 2; i++ {
		select {
		case ev := <-ch:
			if ev.Type != "stats" || ev.ID != "s1" || ev.Data == nil {
				t.Errorf("event %+v", ev)
			}
		case <-time.After(time.Minute):
			t.Fatal("no stats event")
		}
	}
	mustRT(t, root, "kill", "s1", "KILL")
	if err := wait(); err != nil {
		t.Errorf("events after the container stopped: %v", err)
	}
	mustRT(t, root, "delete", "s1")
	if r := rt(t, root, "events", "--stats", "nope"); r.code == 0 {
		t.Error("events of a missing container succeeded")
	}
}

// inProcess runs a command of the runtime in this process, for its typed
// error.
func inProcess(root string, args ...string) error {
	r := &runtime{root: root, stdout: io.Discard, stderr: io.Discard}
	_, err := r.dispatch(args[0], args[1:])
	return err
}

// Bad update values are typed errors naming the flag or field, before
// anything is written.
func TestUpdateRefuses(t *testing.T) {
	root := stateRoot(t)
	dir, cg := bundle(t, []string{"sleep", "1000"}, nil)
	mustRT(t, root, "run", "--detach", "--bundle", dir, "u1")
	defer mustRT(t, root, "delete", "--force", "u1")
	before := cgroupFiles(t, cg)
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--memory", "lots"}, "--memory"},
		{[]string{"--cpu-share", "-3"}, "--cpu-share"},
		{[]string{"--kernel-memory", "1m"}, "--kernel-memory"},
		{[]string{"--memory", "64m", "--memory-swap", "32m"}, "LinuxMemory.Swap"},
		{[]string{"--cpu-rt-runtime", "100"}, "LinuxCPU.RealtimeRuntime"},
		{[]string{"--pids-limit", "20", "--cpu-quota", "500", "--cpu-period", "100000"}, "CPU.Max.Quota"},
	} {
		err := inProcess(root, append(append([]string{"update"}, tc.args...), "u1")...)
		var ue *UpdateError
		var ie *cgroup.InvalidError
		switch {
		case errors.As(err, &ue):
			if ue.Field != tc.field {
				t.Errorf("update %v: field %q, want %q (%v)", tc.args, ue.Field, tc.field, err)
			}
		case errors.As(err, &ie):
			if ie.Field != tc.field {
				t.Errorf("update %v: field %q, want %q (%v)", tc.args, ie.Field, tc.field, err)
			}
		default:
			t.Errorf("update %v: %v, want a typed error naming %s", tc.args, err, tc.field)
		}
	}
	bad := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(bad, []byte(`{"memory": {"limit": "big"}}`), 0o644)
	if err := inProcess(root, "update", "--resources", bad, "u1"); !errors.As(err, new(*UpdateError)) {
		t.Errorf("update --resources with bad JSON: %v", err)
	}
	if after := cgroupFiles(t, cg); after != before {
		t.Errorf("refused updates changed the cgroup:\nbefore %s\nafter  %s", before, after)
	}
	if cgroup.HaveController("memory") != nil {
		// Hybrid host: the typed error names the v1-bound controller.
		err := inProcess(root, "update", "--memory", "64m", "u1")
		if !errors.As(err, new(*cgroup.V1BoundError)) {
			t.Errorf("update --memory on a v1-bound memory controller: %v", err)
		}
	}
}

// cgroupFiles snapshots the control files an update could write.
func cgroupFiles(t *testing.T, cg string) string {
	var b strings.Builder
	for _, f := range []string{"cgroup.subtree_control", "cgroup.controllers", "memory.max", "memory.swap.max", "memory.low", "pids.max", "cpu.max", "cpu.weight"} {
		v, err := os.ReadFile(filepath.Join(cg, f))
		b.WriteString(f + "=" + strings.TrimSpace(string(v)) + map[bool]string{true: "(missing)"}[err != nil] + " ")
	}
	return b.String()
}

// rtWithin runs the runtime like mustRT, failing the test if it has not
// finished within a minute (a command blocked on the state lock).
func rtWithin(t *testing.T, root string, args ...string) {
	t.Helper()
	done := make(chan result, 1)
	cmd := runtimeCmd(t, root, args...)
	go func() {
		out, err := cmd.CombinedOutput()
		r := result{stdout: string(out)}
		if err != nil {
			r.code = -1
		}
		done <- r
	}()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("confine-runtime %v: %s", args, r.stdout)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("confine-runtime %v still blocked after a minute", args)
	}
}

// While a foreground run waits for its container, other commands act on
// it (the state lock is not held across the wait), and run still cleans up.
func TestRunLetsOthersAct(t *testing.T) {
	root := stateRoot(t)
	dir, cg := bundle(t, []string{"sleep", "1000"}, nil)
	run := runtimeCmd(t, root, "run", "--bundle", dir, "fg")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill(); _ = run.Wait() })
	waitFor(t, "the container to run", func() bool {
		r := rt(t, root, "state", "fg")
		return r.code == 0 && strings.Contains(r.stdout, `"running"`)
	})
	rtWithin(t, root, "pause", "fg")
	rtWithin(t, root, "resume", "fg")
	rtWithin(t, root, "kill", "fg", "KILL")
	err := run.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 137 {
		t.Errorf("run: %v, want 137", err)
	}
	expectGone(t, cg, "", 0, 0)
}
