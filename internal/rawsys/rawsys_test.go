//go:build amd64

package rawsys_test

import (
	"os"
	"testing"

	"github.com/confinelab/confine/internal/rawsys"
	"github.com/confinelab/confine/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.RunHelperIfAsked()
	os.Exit(m.Run())
}

// TestInt80Getpid runs wherever the i386 gate works: on every host where
// the probe passes, and always in the VM tier (make test-vm
// PKG=./internal/rawsys), whose emulated CPU runs it.
func TestInt80Getpid(t *testing.T) {
	testutil.RequireInt80(t, "TestVMInt80Getpid")
	checkInt80Getpid(t)
}

func TestVMInt80Getpid(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireInt80(t, "nothing: this is the VM tier")
	checkInt80Getpid(t)
}

func checkInt80Getpid(t *testing.T) {
	const i386Getpid = 20
	if got := rawsys.Int80(i386Getpid, 0, 0, 0); got != int64(os.Getpid()) {
		t.Fatalf("i386 getpid = %d, want %d", got, os.Getpid())
	}
	const i386Nosuch = 9999
	if got := rawsys.Int80(i386Nosuch, 0, 0, 0); got != -38 {
		t.Fatalf("i386 syscall 9999 = %d, want -ENOSYS", got)
	}
}
