// Package cachedir publishes a directory the test bed built into its cache
// ($CONFINE_CACHE): the build happens in a temporary directory beside the
// final one, which is then stamped and renamed into place, so a reader sees
// either the old complete directory or the new one, never half of one.
package cachedir

import (
	"os"
	"path/filepath"
)

// Publish writes stamp to tmp/stampName, makes tmp world-readable (the VM
// and unprivileged test users read it) and replaces dir with it.
func Publish(tmp, dir, stampName, stamp string) error {
	if err := os.WriteFile(filepath.Join(tmp, stampName), []byte(stamp), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp made it 0700
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
