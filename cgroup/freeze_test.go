package cgroup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

func init() { testutil.RegisterHelper("forkloop", helperForkLoop) }

// helperForkLoop starts short-lived children ("exit 0" helpers) forever,
// keeping a few alive at once, so the cgroup's process set keeps changing.
func helperForkLoop([]string) int {
	exe, err := os.Executable()
	if err != nil {
		return 1
	}
	var kids []*exec.Cmd
	for {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), testutil.EnvHelper+"=exit")
		if cmd.Start() == nil {
			kids = append(kids, cmd)
		}
		if len(kids) >= 4 {
			_ = kids[0].Wait()
			kids = kids[1:]
		}
	}
}

// startChild starts a helper inside c and reaps it when the test ends.
func startChild(t *testing.T, c *Cgroup, helper string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := testutil.HelperCommand(t, helper, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.FD()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// cpuTicks returns utime+stime of pid from /proc/PID/stat.
func cpuTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

// progress reports whether pid used CPU during d.
func progress(t *testing.T, pid int, d time.Duration) bool {
	before := cpuTicks(t, pid)
	time.Sleep(d)
	return cpuTicks(t, pid) > before
}

// watchOne returns a watcher with the given buffer watching c, closed
// at cleanup.
func watchOne(t *testing.T, buffer int, c *Cgroup) *Watcher {
	t.Helper()
	w, err := NewWatcher(buffer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Add(c); err != nil {
		t.Fatal(err)
	}
	return w
}

func expectEvent(t *testing.T, w *Watcher, c *Cgroup, kinds ...EventKind) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for _, want := range kinds {
		for {
			select {
			case ev := <-w.Events():
				if ev.Kind == EventError {
					t.Fatalf("watcher error: %v", ev.Err)
				}
				if ev.Cgroup != c || ev.Kind != want {
					continue // e.g. other transitions in between
				}
			case <-timeout:
				t.Fatalf("no %v event within 10s", want)
			}
			break
		}
	}
}

// TestFreezeThawKill: a spinning child stops using CPU while frozen and
// resumes after Thaw; Kill empties the cgroup; the watcher reports each
// transition.
func TestFreezeThawKill(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeaks(t)
	c := openTemp(t)
	w := watchOne(t, 16, c)
	cmd := startChild(t, c, "spin")
	expectEvent(t, w, c, EventPopulated)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if err := c.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, c, EventFrozen)
	if progress(t, cmd.Process.Pid, 300*time.Millisecond) {
		t.Fatal("frozen child still used CPU")
	}
	if err := c.Thaw(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, c, EventThawed)
	if !progress(t, cmd.Process.Pid, time.Second) {
		t.Fatal("thawed child made no progress in 1s")
	}
	if err := c.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, c, EventEmpty)
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child exit: %v, want killed", err)
	}
}

// TestWaitContext: waits end with the context's error, promptly, and a
// Freeze whose context is already cancelled leaves the group thawed.
func TestWaitContext(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeaks(t)
	c := openTemp(t)
	startChild(t, c, "sleep", "60")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.WaitEmpty(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitEmpty on a populated cgroup: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("WaitEmpty returned after %v", d)
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	err := c.Freeze(done)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Freeze with cancelled ctx: %v", err)
	}
	b, rerr := os.ReadFile(c.Path() + "/cgroup.freeze")
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil && strings.TrimSpace(string(b)) != "0" {
		t.Fatalf("cancelled Freeze left cgroup.freeze = %q", b)
	}
	if err := c.Thaw(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestWatcherRemoved: rmdir of a watched cgroup gives EventRemoved and ends
// its watch; Remove ends watches; Add and Close are idempotent; Close
// closes the channel and releases everything (CheckLeaks).
func TestWatcherRemoved(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeaks(t)
	w, err := NewWatcher(0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var cgs []*Cgroup
	for range 5 {
		c := openTemp(t)
		if err := w.Add(c); err != nil {
			t.Fatal(err)
		}
		if err := w.Add(c); err != nil { // idempotent
			t.Fatal(err)
		}
		cgs = append(cgs, c)
	}
	if err := w.Remove(cgs[1]); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Rmdir(cgs[0].Path()); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, cgs[0], EventRemoved)
	if err := w.Remove(cgs[0]); err != nil { // already gone: no-op
		t.Fatal(err)
	}
	w.mu.Lock()
	n, m, p := len(w.byPath), len(w.byWd), len(w.parents)
	w.mu.Unlock()
	if n != 3 || m != 3 || p != 1 {
		t.Fatalf("watching %d cgroups (%d file wds, %d dir wds), want 3, 3, 1", n, m, p)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Events(); ok {
		t.Fatal("events channel open after Close")
	}
	if err := w.Add(cgs[2]); err == nil {
		t.Fatal("Add after Close succeeded")
	}
}

// TestKillThreaded: cgroup.kill is refused in a threaded cgroup; the error
// matches ErrNotSupported and keeps EOPNOTSUPP.
func TestKillThreaded(t *testing.T) {
	testutil.RequireRoot(t)
	parent := testutil.TempCgroup(t)
	dir := parent + "/threaded"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/cgroup.type", []byte("threaded"), 0); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Kill(context.Background())
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("Kill in a threaded cgroup: %v, want ErrNotSupported wrapping EOPNOTSUPP", err)
	}
}

// TestThawUnderFrozenParent: a child of a frozen cgroup stays frozen, so
// Thaw cannot complete and returns the context's error; once the parent
// thaws, the child reports thawed.
func TestThawUnderFrozenParent(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeaks(t)
	parent := openTemp(t)
	if err := os.Mkdir(parent.Path()+"/child", 0o755); err != nil {
		t.Fatal(err)
	}
	child, err := Open(parent.Path() + "/child")
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	startChild(t, child, "sleep", "60")
	bg := context.Background()
	if err := parent.Freeze(bg); err != nil {
		t.Fatal(err)
	}
	// Frozen through the parent: cgroup.events of the child says frozen 1.
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := child.waitEvents(ctx, func(e cgEvents) bool { return e.frozen }); err != nil {
		t.Fatalf("child not frozen with its parent: %v", err)
	}
	short, cancel2 := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel2()
	if err := child.Thaw(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Thaw under a frozen parent: %v, want DeadlineExceeded", err)
	}
	if err := parent.Thaw(bg); err != nil {
		t.Fatal(err)
	}
	if err := child.waitEvents(ctx, func(e cgEvents) bool { return !e.frozen }); err != nil {
		t.Fatalf("child still frozen after the parent thawed: %v", err)
	}
}

// TestWatcherConcurrent: Add and Remove from several goroutines while the
// loop delivers freeze events; run with -race.
func TestWatcherConcurrent(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeaks(t)
	w, err := NewWatcher(1)
	if err != nil {
		t.Fatal(err)
	}
	var cgs []*Cgroup
	for range 8 {
		cgs = append(cgs, openTemp(t))
	}
	got := make(chan int)
	first := make(chan struct{})
	go func() {
		n := 0
		for range w.Events() {
			if n++; n == 1 {
				close(first)
			}
		}
		got <- n
	}()
	errs := make(chan error, len(cgs))
	for _, c := range cgs {
		go func() {
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				if err = w.Add(c); err == nil {
					err = os.WriteFile(c.Path()+"/cgroup.freeze", []byte(strconv.Itoa((i+1)%2)), 0)
				}
				if err == nil && i%3 == 0 {
					err = w.Remove(c)
				}
			}
			errs <- err
		}()
	}
	for range cgs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// A transition of a watched cgroup must arrive.
	if err := w.Add(cgs[0]); err != nil {
		t.Fatal(err)
	}
	// Each goroutine ended with "0": this is a lasting change.
	if err := os.WriteFile(cgs[0].Path()+"/cgroup.freeze", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Error("no event delivered within 10s")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	<-got
}
