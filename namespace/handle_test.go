package namespace_test

import (
	"errors"
	"os"
	"path/filepath"
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

// New makes a namespace no process is in; the caller's thread stays where
// it was, and the namespace lives as long as the handle (or a Bind mount).
func TestNewAnonymous(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	for _, k := range []namespace.Kind{namespace.NET, namespace.IPC, namespace.UTS, namespace.MNT, namespace.CGROUP} {
		h, err := namespace.New(k)
		if err != nil {
			t.Fatalf("New(%s): %v", k, err)
		}
		cur, err := namespace.Open(os.Getpid(), k)
		if err != nil {
			t.Fatal(err)
		}
		if h.Kind() != k || h.Equal(cur) {
			t.Errorf("New(%s) = %s, the process is in %s: want a new %s namespace", k, h, cur, k)
		}
		// The kernel really made it: joining it moves a thread there.
		err = namespace.Do(func() error {
			in, err := namespace.Current(k)
			if err != nil {
				return err
			}
			defer in.Close()
			if !in.Equal(h) {
				t.Errorf("Do(New(%s)) ran in %s", k, in)
			}
			return nil
		}, h)
		if err != nil {
			t.Fatalf("Do in New(%s): %v", k, err)
		}
		h.Close()
		cur.Close()
	}
	var ie *namespace.InvalidError
	for _, k := range []namespace.Kind{namespace.PID, namespace.TIME, namespace.Kind(0)} {
		if _, err := namespace.New(k); !errors.As(err, &ie) {
			t.Errorf("New(%s) = %v, want *InvalidError", k, err)
		}
	}
	if _, err := namespace.New(namespace.USER); !errors.Is(err, namespace.ErrMultithreadedUserns) {
		t.Errorf("New(USER) = %v, want ErrMultithreadedUserns", err)
	}
}

// Bind keeps a new namespace alive under a path after its handle closed.
func TestBindKeepsNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	h, err := namespace.New(namespace.NET)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ns")
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := h.Bind(path); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(path, unix.MNT_DETACH)
	ino := h.Inode()
	h.Close()
	again, err := namespace.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Inode() != ino || again.Kind() != namespace.NET {
		t.Fatalf("bound path opens %s, want net:[%d]", again, ino)
	}
	if err := h.Bind(path); !errors.Is(err, namespace.ErrClosed) {
		t.Fatalf("Bind after Close = %v, want ErrClosed", err)
	}
}

// A nil handle answers every query without dereferencing nil, and
// Control refuses nil and closed handles.
func TestHandleNilSafe(t *testing.T) {
	var h *namespace.Handle
	if h.Kind() != 0 || h.Inode() != 0 || h.FD() != -1 || h.String() != "<nil>" || h.Close() != nil {
		t.Fatal("nil handle methods")
	}
	if err := h.Control(func(int) error { return nil }); !errors.Is(err, namespace.ErrClosed) {
		t.Fatalf("nil Control = %v", err)
	}
}

// A concurrent Close never lets Control run fn on a recycled fd: fn sees
// either the namespace or ErrClosed is returned.
func TestControlVsClose(t *testing.T) {
	for range 200 {
		h, err := namespace.Current(namespace.UTS)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { h.Close(); close(done) }()
		err = h.Control(func(fd int) error {
			_, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
			return err
		})
		<-done
		if err != nil && !errors.Is(err, namespace.ErrClosed) {
			t.Fatalf("Control racing Close: %v", err)
		}
	}
}

// A panic in Do's fn reaches the caller, after the thread was dealt with.
func TestDoRepanics(t *testing.T) {
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want boom", v)
		}
	}()
	_ = namespace.Do(func() error { panic("boom") })
	t.Fatal("Do returned after a panic")
}
