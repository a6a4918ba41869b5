// Package busyboxroot builds the minimal root filesystems that confine's
// tests, demo and benchmarks run commands in: a static busybox and its
// applets. One builder, so the three users agree on what a root holds.
package busyboxroot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build fills dir with a minimal root filesystem: the directories dirs
// (and /bin), a copy of the busybox binary bb at /bin/busybox (a copy, not
// a link: dir may be on another filesystem), and a symlink /bin/APPLET ->
// busybox for each applet, or for every applet bb lists when applets is
// nil (an empty non-nil list links none).
func Build(bb, dir string, dirs []string, applets []string) error {
	for _, d := range append([]string{"bin"}, dirs...) {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	if applets == nil {
		out, err := exec.Command(bb, "--list").Output()
		if err != nil {
			return err
		}
		applets = strings.Fields(string(out))
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}
