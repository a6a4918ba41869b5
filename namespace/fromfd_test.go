package namespace_test

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

func TestFromFD(t *testing.T) {
	testutil.CheckLeaks(t)
	cur, err := namespace.Current(namespace.UTS)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	h, err := namespace.FromFD(cur.FD())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if !h.Equal(cur) || h.Kind() != namespace.UTS || h.FD() == cur.FD() {
		t.Fatalf("FromFD = %v fd %d, want %v on a new fd", h, h.FD(), cur)
	}
	flags, err := unix.FcntlInt(uintptr(h.FD()), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("duplicate fd flags %#x %v: want FD_CLOEXEC", flags, err)
	}
	// The caller's fd stays open and owned by the caller.
	h.Close()
	if _, err := unix.FcntlInt(uintptr(cur.FD()), unix.F_GETFD, 0); err != nil {
		t.Fatalf("source fd closed with the copy: %v", err)
	}
}

func TestFromFDRejects(t *testing.T) {
	testutil.CheckLeaks(t)
	var ie *namespace.InvalidError
	if _, err := namespace.FromFD(-1); !errors.As(err, &ie) || ie.Field != "fd" {
		t.Fatalf("FromFD(-1) = %v, want *InvalidError on fd", err)
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := namespace.FromFD(int(f.Fd())); !errors.Is(err, unix.ENOTTY) {
		t.Fatalf("FromFD(regular file) = %v, want ENOTTY", err)
	}
}
