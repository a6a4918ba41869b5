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

func TestNamespaceRoundTrip(t *testing.T) {
	testutil.CheckLeaks(t)
	_, h := newNamed(t)
	nh, err := h.Namespace()
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	if nh.Kind() != namespace.NET || nh.Inode() != h.Inode() || nh.FD() == h.FD() {
		t.Fatalf("Namespace() = %v (fd %d), want net:[%d] on its own fd (not %d)", nh, nh.FD(), h.Inode(), h.FD())
	}
	back, err := netns.FromNamespace(nh)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if !back.Equal(h) || back.FD() == nh.FD() {
		t.Fatalf("FromNamespace(%v) = %v (fd %d)", nh, back, back.FD())
	}
	// Each handle owns its own fd: closing one leaves the other usable.
	nh.Close()
	if err := netns.Do(back, func() error { return nil }); err != nil {
		t.Fatalf("Do on the converted handle after closing its source: %v", err)
	}
}

func TestFromNamespaceRejects(t *testing.T) {
	uts, err := namespace.Current(namespace.UTS)
	if err != nil {
		t.Fatal(err)
	}
	defer uts.Close()
	_, err = netns.FromNamespace(uts)
	var oe *netns.OpError
	if !errors.Is(err, netns.ErrNotNetns) || !errors.As(err, &oe) {
		t.Fatalf("FromNamespace(uts) = %v, want an *OpError wrapping ErrNotNetns", err)
	}
	if _, err := netns.FromNamespace(nil); !errors.Is(err, netns.ErrClosed) {
		t.Fatalf("FromNamespace(nil) = %v", err)
	}
	uts.Close()
	if _, err := netns.FromNamespace(uts); !errors.Is(err, netns.ErrClosed) {
		t.Fatalf("FromNamespace(closed) = %v", err)
	}
	var nilH *netns.Handle
	if _, err := nilH.Namespace(); !errors.Is(err, netns.ErrClosed) {
		t.Fatalf("nil Handle.Namespace() = %v", err)
	}
	cur, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	cur.Close()
	if _, err := cur.Namespace(); !errors.Is(err, netns.ErrClosed) {
		t.Fatalf("closed Handle.Namespace() = %v", err)
	}
}

// TestNamespaceJoinCmd starts a command through namespace.Cmd.Join with a
// converted handle: the kernel puts it in the named namespace.
func TestNamespaceJoinCmd(t *testing.T) {
	testutil.RequireRoot(t)
	// Warm up: the sealed copy of the binary Cmd starts from is cached for
	// the life of the process, which is not a leak.
	if _, err := (&namespace.Cmd{Path: "/bin/true"}).Run(); err != nil {
		t.Fatal(err)
	}
	testutil.CheckLeaks(t)
	_, h := newNamed(t)
	nh, err := h.Namespace()
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	var out strings.Builder
	cmd := &namespace.Cmd{Path: "readlink", Args: []string{"readlink", "/proc/self/ns/net"}, Join: []*namespace.Handle{nh}, Stdout: &out}
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
