package namespace_test

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

func TestHandleOpenEqualClose(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	for _, k := range namespace.All() {
		a, err := namespace.Open(os.Getpid(), k)
		if err != nil {
			t.Fatalf("Open(%s): %v", k, err)
		}
		if a.Kind() != k {
			t.Errorf("Open(%s).Kind() = %s", k, a.Kind())
		}
		b, err := namespace.OpenPath("/proc/self/ns/" + k.ProcName())
		if err != nil {
			t.Fatal(err)
		}
		if !a.Equal(b) {
			t.Errorf("%s: %s and %s differ", k, a, b)
		}
		if err := a.Close(); err != nil {
			t.Error(err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if a.FD() != -1 {
			t.Error("FD after Close")
		}
		b.Close()
	}
	var nilHandle *namespace.Handle
	if err := nilHandle.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}
}

func TestOpenPathRejectsNonNamespace(t *testing.T) {
	_, err := namespace.OpenPath("/proc/self/status")
	if !errors.Is(err, unix.ENOTTY) {
		t.Errorf("OpenPath(status) = %v, want ENOTTY", err)
	}
	var ie *namespace.InvalidError
	if _, err := namespace.Open(0, namespace.NET); !errors.As(err, &ie) {
		t.Errorf("Open(0) = %v, want InvalidError", err)
	}
	if _, err := namespace.Current(namespace.Kind(99)); !errors.As(err, &ie) {
		t.Errorf("Current(99) = %v, want InvalidError", err)
	}
}

func TestDoJoinsAndRestores(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	target, err := namespace.OpenPath(testutil.TempNetns(t))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	for i := 0; i < 20; i++ { // reused threads must all be back
		err = namespace.Do(expectIn(t, target), target)
		if err != nil {
			t.Fatal(err)
		}
	}
	host, err := namespace.Open(os.Getpid(), namespace.NET)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	// Every thread of the process is back in the host netns.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		h, err := namespace.OpenPath("/proc/self/task/" + task.Name() + "/ns/net")
		if err != nil {
			continue // thread exited
		}
		if !h.Equal(host) {
			t.Errorf("thread %s left in %s", task.Name(), h)
		}
		h.Close()
	}
}

func TestDoMountNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	holder := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"}, Namespaces: namespace.Set{namespace.MNT}}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer holder.Signal(unix.SIGKILL)
	mnt, err := namespace.Open(holder.Pid(), namespace.MNT)
	if err != nil {
		t.Fatal(err)
	}
	defer mnt.Close()
	err = namespace.Do(expectIn(t, mnt), mnt)
	if err != nil {
		t.Fatal(err)
	}
	own, _ := namespace.Current(namespace.MNT)
	defer own.Close()
	if own.Equal(mnt) {
		t.Error("calling thread left in the joined mount namespace")
	}
}

func TestDoUserNamespaceTypedError(t *testing.T) {
	h, err := namespace.Open(os.Getpid(), namespace.USER)
	if err != nil {
		t.Skipf("cannot open own user namespace: %v", err)
	}
	defer h.Close()
	if err := namespace.Do(func() error { return nil }, h); !errors.Is(err, namespace.ErrMultithreadedUserns) {
		t.Errorf("Do(USER) = %v, want ErrMultithreadedUserns", err)
	}
}

// expectIn returns a function for Do that reports an error unless the
// calling thread is in want.
func expectIn(t *testing.T, want *namespace.Handle) func() error {
	return func() error {
		cur, err := namespace.Current(want.Kind())
		if err != nil {
			return err
		}
		defer cur.Close()
		if !cur.Equal(want) {
			t.Errorf("inside Do: in %s, want %s", cur, want)
		}
		return nil
	}
}
