package namespace

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func hashFile(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// The init runs from a sealed memfd: even root on the host cannot open its
// /proc/PID/exe for writing, and the binary on disk is untouched.
func TestInitBinaryNotWritable(t *testing.T) {
	testutil.RequireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before := hashFile(t, self)
	var openErr error
	var link string
	testHookStarted = func(pid int) {
		p := "/proc/" + strconv.Itoa(pid) + "/exe"
		link, _ = os.Readlink(p)
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write([]byte("overwritten"))
			f.Close()
			if err == nil {
				openErr = errors.New("opened and wrote the init binary")
				return
			}
		}
		openErr = err
	}
	defer func() { testHookStarted = nil }()
	var out bytes.Buffer
	c := &Cmd{Path: "/bin/true", Namespaces: Set{PID, MNT}, Stdout: &out}
	if _, err := c.Run(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(openErr, unix.ETXTBSY) && !errors.Is(openErr, unix.EPERM) && !errors.Is(openErr, unix.EACCES) {
		t.Errorf("writing /proc/PID/exe of the init: %v, want ETXTBSY, EPERM or EACCES", openErr)
	}
	if !strings.HasPrefix(link, "/memfd:confine-init") {
		t.Errorf("init exe = %q, want the sealed memfd", link)
	}
	if hashFile(t, self) != before {
		t.Error("host binary changed")
	}
}
