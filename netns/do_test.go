package netns_test

import (
	"errors"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

func threadNetnsIno(t testing.TB) uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Error(err)
	}
	return st.Ino
}

func TestDoRunsInNamespace(t *testing.T) {
	_, h := newNamed(t)
	cur := current(t)
	var inside uint64
	want := errors.New("from fn")
	err := namespace.Do(func() error {
		inside = threadNetnsIno(t)
		return want
	}, h)

	if !errors.Is(err, want) {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
	if inside != h.Inode() {
		t.Fatalf("fn ran in net:[%d], want %s", inside, h)
	}
	if inside == cur.Inode() {
		t.Fatal("fn ran in the caller's namespace")
	}
}

// After many concurrent Do calls, no thread of the process is left in a
// foreign namespace: every thread was restored (or discarded).
func TestDoRestoresThreads(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	cur := current(t)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		h := a
		if i%2 == 1 {
			h = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := namespace.Do(func() error { return nil }, h); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := threadNetnsIno(t); n != cur.Inode() {
		t.Fatalf("calling thread in net:[%d], want %s", n, cur)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/task/"+task.Name()+"/ns/net", &st); err != nil {
			continue // thread exited meanwhile
		}
		if st.Ino != cur.Inode() {
			t.Errorf("thread %s left in net:[%d], want %s", task.Name(), st.Ino, cur)
		}
	}
}

func TestDoPanicIsRaisedAfterRestore(t *testing.T) {
	_, h := newNamed(t)
	cur := current(t)
	got := func() (v any) {
		defer func() { v = recover() }()
		_ = namespace.Do(func() error { panic("boom") }, h)
		return nil
	}()
	if got != "boom" {
		t.Fatalf("recovered %v, want boom", got)
	}
	// The next Do from a plain goroutine still starts from the host netns.
	var ino uint64
	if err := namespace.Do(func() error { ino = threadNetnsIno(t); return nil }, cur); err != nil {
		t.Fatal(err)
	}
	if ino != cur.Inode() {
		t.Fatalf("Do(current) ran in net:[%d]", ino)
	}
}

// OpenPid sees a child started in its own network namespace, which has
// nothing but a loopback interface, down until LoopbackUp.
func TestOpenPidChildInNewNetns(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := testutil.HelperCommand(t, "sleep", "60")
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	h, err := netns.OpenPid(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if cur := current(t); h.Equal(cur) {
		t.Fatal("child's netns equals ours")
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+itoa(cmd.Process.Pid)+"/ns/net", &st); err != nil || st.Ino != h.Inode() {
		t.Fatalf("child ns inode %d (%v), handle %s", st.Ino, err, h)
	}
	links := linkState(t, h)
	if len(links) != 1 || links["lo"] {
		t.Fatalf("child links %v, want only lo, down", links)
	}
	if err := netns.LoopbackUp(h); err != nil {
		t.Fatal(err)
	}
	if links := linkState(t, h); !links["lo"] {
		t.Fatalf("after LoopbackUp: %v", links)
	}
}
