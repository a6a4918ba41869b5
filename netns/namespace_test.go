package netns_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

// The Cmd test below re-executes this binary as namespace's init, which
// must run before anything else; an init function runs before TestMain.
func init() { namespace.Init() }

// A netns handle is a namespace handle of kind NET: it works with
// namespace.Do and Cmd.Join directly, with no conversion.
func TestHandleIsNamespaceHandle(t *testing.T) {
	testutil.CheckLeaks(t)
	_, h := newNamed(t)
	if h.Kind() != namespace.NET {
		t.Fatalf("Kind() = %s, want NET", h.Kind())
	}
	if err := namespace.Do(func() error { return nil }, h); err != nil {
		t.Fatalf("namespace.Do with a netns handle: %v", err)
	}
}

// A namespace handle of another kind is refused where a network namespace
// is needed, with ErrNotNetns; a nil or closed one with ErrClosed.
func TestOtherKindRefused(t *testing.T) {
	uts, err := namespace.Current(namespace.UTS)
	if err != nil {
		t.Fatal(err)
	}
	defer uts.Close()
	err = netns.LoopbackUp(uts)
	var oe *netns.StepError
	if !errors.Is(err, netns.ErrNotNetns) || !errors.As(err, &oe) {
		t.Fatalf("LoopbackUp(uts) = %v, want an *StepError wrapping ErrNotNetns", err)
	}
	if err := netns.LoopbackUp(nil); !errors.Is(err, netns.ErrClosed) {
		t.Fatalf("LoopbackUp(nil) = %v", err)
	}
	uts.Close()
	if err := netns.LoopbackUp(uts); !errors.Is(err, netns.ErrClosed) {
		t.Fatalf("LoopbackUp(closed) = %v", err)
	}
}

// TestNamespaceJoinCmd starts a command through namespace.Cmd.Join with a
// netns handle: the kernel puts it in the named namespace.
func TestNamespaceJoinCmd(t *testing.T) {
	testutil.RequireRoot(t)
	// Warm up: the sealed copy of the binary Cmd starts from is cached for
	// the life of the process, which is not a leak.
	if _, err := (&namespace.Cmd{Path: "/bin/true"}).Run(); err != nil {
		t.Fatal(err)
	}
	testutil.CheckLeaks(t)
	_, h := newNamed(t)
	var out strings.Builder
	cmd := &namespace.Cmd{Path: "readlink", Args: []string{"readlink", "/proc/self/ns/net"}, Join: []*namespace.Handle{h}, Stdout: &out}
	st, err := cmd.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Success() {
		t.Fatalf("readlink: %+v", st)
	}
	if got := strings.TrimSpace(out.String()); got != h.String() {
		t.Fatalf("command ran in %s, want %s", got, h)
	}
}
