package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// makeBusyboxRoot fills dir with a minimal busybox root filesystem: the
// static binary bb at /bin/busybox, a symlink per applet, /etc/passwd and
// the empty mount points. The demo and the benchmark use it.
func makeBusyboxRoot(bb, dir string) error {
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
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
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
	return os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte(passwd), 0o644)
}
