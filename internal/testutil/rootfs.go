package testutil

import (
	"path/filepath"
	"testing"

	"github.com/confinelab/confine/internal/busyboxroot"
)

// BusyboxRoot builds a minimal root filesystem in a fresh temporary
// directory and returns its path: the directories dirs, a copy of the
// host's busybox at /bin/busybox, and for each applet a symlink
// /bin/APPLET -> busybox. Callers choose dirs on purpose (a test may leave
// one out to check that the code under test creates it). It skips (fails
// under CONFINE_STRICT) when busybox is not installed.
func BusyboxRoot(t testing.TB, dirs []string, applets ...string) string {
	t.Helper()
	bb := RequireCommand(t, "busybox")
	root := filepath.Join(t.TempDir(), "root")
	if applets == nil {
		applets = []string{} // nil would link every applet
	}
	if err := busyboxroot.Build(bb, root, dirs, applets); err != nil {
		t.Fatal(err)
	}
	return root
}
