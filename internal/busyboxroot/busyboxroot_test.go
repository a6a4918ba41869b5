package busyboxroot

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The built root runs its applets: /bin/sh through the symlink is busybox.
func TestBuild(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	dir := t.TempDir()
	if err := Build(bb, dir, []string{"etc", "proc"}, []string{"sh", "true"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc", "proc"} {
		if st, err := os.Stat(filepath.Join(dir, d)); err != nil || !st.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "bin", "sh"), "-c", "echo ok").Output()
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("/bin/sh of the root: %q, %v", out, err)
	}
	all := t.TempDir()
	if err := Build(bb, all, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(all, "bin", "wget")); err != nil {
		t.Errorf("no applets means all of them: %v", err)
	}
}
