package main

import (
	"os"
	"path/filepath"

	"github.com/confinelab/confine/internal/busyboxroot"
)

// makeBusyboxRoot fills dir with a minimal busybox root filesystem: the
// static binary bb at /bin/busybox, a symlink per applet, /etc/passwd and
// the empty mount points. The demo and the benchmark use it.
func makeBusyboxRoot(bb, dir string) error {
	if err := busyboxroot.Build(bb, dir, []string{"etc", "proc", "sys", "dev", "tmp", "root"}, nil); err != nil {
		return err
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
	return os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte(passwd), 0o644)
}
