package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

// BenchmarkExec measures `exec ID /bin/true` into a running container
// (busybox bundle, `sleep 1000`, the default spec's six namespaces) from
// the start of the runtime's process to its exit, for confine-runtime (this
// test binary acting as it) and, in the same run, runc when installed
// (runc's cgroup v1 mode on a hybrid host). It reports the median.
func BenchmarkExec(b *testing.B) {
	testutil.RequireRoot(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("confine-runtime", func(b *testing.B) {
		cg := filepath.Join(testutil.TempCgroup(b), "ctr")
		dir := benchBundle(b, cg[len(testutil.UnifiedMount()):])
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
		medianOf(b, func() error { return rtCmd("exec", "b1", "/bin/true").Run() })
	})
	b.Run("runc", func(b *testing.B) {
		runc, err := exec.LookPath("runc")
		if err != nil {
			b.Skip("runc not installed")
		}
		dir := benchBundle(b, "")
		root := b.TempDir()
		runcCmd := func(args ...string) *exec.Cmd {
			return exec.Command(runc, append([]string{"--root", root}, args...)...)
		}
		if err := detached(b, runcCmd("run", "--detach", "--bundle", dir, "b1")); err != nil {
			b.Skipf("runc cannot run the bundle here: %v", err)
		}
		defer runcCmd("delete", "--force", "b1").Run()
		medianOf(b, func() error { return runcCmd("exec", "b1", "/bin/true").Run() })
	})
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

// benchBundle is a busybox bundle running `sleep 1000` with the default
// spec; cgroupsPath "" leaves the choice to the runtime.
func benchBundle(b *testing.B, cgroupsPath string) string {
	rootfs := testutil.BusyboxRoot(b, []string{"proc", "sys", "dev", "tmp"}, "sh", "true", "sleep")
	dir := filepath.Dir(rootfs)
	s := defaultSpec()
	s.Process.Terminal, s.Process.Args = false, []string{"sleep", "1000"}
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

// medianOf times one call per iteration and reports the median in ms.
func medianOf(b *testing.B, once func() error) {
	if err := once(); err != nil { // warm caches; fail early
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := once(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
}
