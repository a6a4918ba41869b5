package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// BenchmarkExec measures `exec ID /bin/true` into a running container
// (busybox bundle, `sleep 1000`, the default spec's six namespaces) from
// the start of the runtime's process to its exit, for confine-runtime (this
// test binary acting as it) interleaved with runc when installed (runc's
// cgroup v1 mode on a hybrid host), so that a busy host slows both alike.
// It reports each one's median and confine-runtime's ratio to runc.
func BenchmarkExec(b *testing.B) {
	testutil.RequireRoot(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cg := filepath.Join(testutil.TempCgroup(b), "ctr")
	dir := benchBundle(b, cg[len(testutil.UnifiedMount()):], "sleep", "1000")
	root := b.TempDir()
	rtCmd := func(args ...string) *exec.Cmd {
		c := exec.Command(exe, append([]string{"--root", root}, args...)...)
		c.Env = append(os.Environ(), envAsRuntime+"=1")
		return c
	}
	if err := detached(b, rtCmd("run", "--detach", "--bundle", dir, "b1")); err != nil {
		b.Fatal(err)
	}
	defer rtCmd("delete", "--force", "b1").Run()
	runs := []testutil.Run{{Name: "confine-runtime", Once: func() error { return rtCmd("exec", "b1", "/bin/true").Run() }}}
	if runc, err := exec.LookPath("runc"); err == nil {
		rdir, rroot := benchBundle(b, "", "sleep", "1000"), b.TempDir()
		runcCmd := func(args ...string) *exec.Cmd {
			return exec.Command(runc, append([]string{"--root", rroot}, args...)...)
		}
		if err := detached(b, runcCmd("run", "--detach", "--bundle", rdir, "b1")); err != nil {
			b.Logf("runc cannot run the bundle here: %v", err)
		} else {
			defer runcCmd("delete", "--force", "b1").Run()
			runs = append(runs, testutil.Run{Name: "runc", Once: func() error { return runcCmd("exec", "b1", "/bin/true").Run() }})
		}
	}
	testutil.Interleave(b, runs)
}

// detached runs a `run --detach` with its output in a file: the
// container keeps the runtime's stdio, and a pipe would never end.
func detached(b *testing.B, c *exec.Cmd) error {
	f, err := os.Create(filepath.Join(b.TempDir(), "out"))
	if err != nil {
		return err
	}
	defer f.Close()
	c.Stdout, c.Stderr = f, f
	if err := c.Run(); err != nil {
		out, _ := os.ReadFile(f.Name())
		return fmt.Errorf("%v: %v: %s", c.Args, err, out)
	}
	return nil
}

// benchBundle is a busybox bundle running args with the default spec;
// cgroupsPath "" leaves the choice to the runtime.
func benchBundle(b *testing.B, cgroupsPath string, args ...string) string {
	rootfs := testutil.BusyboxRoot(b, []string{"proc", "sys", "dev", "tmp"}, "sh", "true", "sleep")
	dir := filepath.Dir(rootfs)
	s := defaultSpec()
	s.Process.Terminal, s.Process.Args = false, args
	s.Root.Path, s.Linux.CgroupsPath = "root", cgroupsPath
	j, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), j, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}
