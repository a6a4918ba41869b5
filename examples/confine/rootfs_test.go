package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// busyboxRoot makes a minimal root filesystem: a static busybox, its
// applets as symlinks, and the empty directories a sandbox mounts on.
func busyboxRoot(t testing.TB) string {
	t.Helper()
	bb := testutil.RequireCommand(t, "busybox")
	root := t.TempDir()
	if err := makeBusyboxRoot(bb, root); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestRootfs(t *testing.T) {
	root := busyboxRoot(t)
	r := confine(t, "run", "--rootfs", root, "--read-only", "--tmpfs", "/tmp", "--hostname", "bb", "sh", "-c",
		`echo $$ $(hostname); ls /; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; echo x > /dev/null && echo null-ok;
		 touch /sys/x 2>&1; touch /etc/x 2>&1; touch /tmp/x && echo tmp-ok`)
	out := r.stdout
	for _, want := range []string{"1 bb\n", "null-ok", "tmp-ok", "\n0\n0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in output", want)
		}
	}
	if strings.Count(out, "Read-only file system") != 2 {
		t.Errorf("want /sys and the root read-only")
	}
	if r.code != 0 {
		t.Errorf("exit %d", r.code)
	}
	// The rootfs on the host is untouched.
	if _, err := os.Stat(filepath.Join(root, "etc", "x")); err == nil {
		t.Error("a write reached the rootfs")
	}
	// --device creates the node inside the rootfs and allows it.
	r = confine(t, "run", "--rootfs", root, "--cap-add", "SYSLOG", "--device", "/dev/kmsg:/dev/k:r", "sh", "-c", ": < /dev/k && echo opened")
	if r.code != 0 || r.stdout != "opened\n" {
		t.Errorf("--device into a rootfs: exit %d", r.code)
	}
	r = confine(t, "run", "--rootfs", root, "--init", "sh", "-c", "echo $$; kill -9 $$")
	if r.code != 128+9 {
		t.Errorf("--init in a rootfs: exit %d, want 137", r.code)
	}
}
