package netns_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

func init() {
	testutil.RegisterHelper("create", helperCreate)
}

// helperCreate tries netns.Create(args[0]) and prints how it failed:
// "ok", or the errno the *StepError wraps.
func helperCreate(args []string) int {
	h, err := netns.Create(args[0])
	if err == nil {
		h.Close()
		netns.Delete(args[0])
		fmt.Println("ok")
		return 0
	}
	var oe *netns.StepError
	var errno syscall.Errno
	if !errors.As(err, &oe) || !errors.As(err, &errno) {
		fmt.Printf("untyped error: %v\n", err)
		return 1
	}
	fmt.Printf("%s\n%v\n", unix.ErrnoName(errno), err)
	return 0
}

func TestMain(m *testing.M) {
	testutil.RunHelperIfAsked()
	// Start the runtime's network poller now, so its epoll and eventfd
	// descriptors predate every testutil.CheckLeaks baseline.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	os.Exit(testutil.RunPreservingNetns(m))
}

var nameSeq atomic.Int64

// testName returns a namespace name unique to this process and call.
func testName() string {
	return fmt.Sprintf("confine-test-%d-%d", os.Getpid(), nameSeq.Add(1))
}

// newNamed creates a uniquely named namespace, deleted and closed when the
// test ends.
func newNamed(t testing.TB) (string, *netns.Handle) {
	t.Helper()
	testutil.RequireRoot(t)
	name := testName()
	h, err := netns.Create(name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	t.Cleanup(func() {
		h.Close()
		if err := netns.Delete(name); err != nil {
			t.Errorf("Delete(%q): %v", name, err)
		}
	})
	return name, h
}

// current opens the test process's netns, closed when the test ends.
func current(t testing.TB) *netns.Handle {
	t.Helper()
	h, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func lookIP() (string, error) { return exec.LookPath("ip") }

func isIPRoute2(ip string) bool {
	out, _ := runCmd(ip, "-V")
	return strings.Contains(out, "iproute2")
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func itoa(i int) string { return strconv.Itoa(i) }

// linkState maps each interface in h to whether it is up, read through a
// netlink socket opened inside h.
func linkState(t testing.TB, h *netns.Handle) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	err := namespace.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			m[i.Name] = i.Flags&net.FlagUp != 0
		}
		return err
	}, h)

	if err != nil {
		t.Fatal(err)
	}
	return m
}
