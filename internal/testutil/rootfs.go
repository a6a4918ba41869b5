package testutil

import (
	"os"
	"path/filepath"
	"testing"
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
	for _, d := range append([]string{"bin"}, dirs...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A copy rather than a hard link: the temp dir may be on another
	// filesystem than the host's busybox.
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
