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

// BenchmarkRuntimes times the runtime-spec lifecycle of a busybox bundle
// running /bin/true (the default spec: six namespaces, read-only root)
// for confine-runtime (this test binary acting as it) interleaved with
// runc and crun where they are installed, from each command's start to its
// exit: `run` alone, and create + start + delete --force. It reports each
// runtime's median and confine-runtime's ratio to each other.
//
// crun refuses hybrid cgroup hosts, so on this project's hosts it runs in
// the VM, where `make bench-runtimes` carries runc and crun with their
// shared libraries (vmtest.Config.Programs) and the hierarchy is pure
// cgroup v2 for all three.
func BenchmarkRuntimes(b *testing.B) {
	testutil.RequireRoot(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	type runtime struct {
		name string
		cmd  func(args ...string) *exec.Cmd
		dir  string // its bundle
	}
	self := runtime{name: "confine-runtime"}
	root, out := b.TempDir(), b.TempDir()
	self.cmd = func(args ...string) *exec.Cmd {
		c := exec.Command(exe, append([]string{"--root", root}, args...)...)
		c.Env = append(os.Environ(), envAsRuntime+"=1")
		return c
	}
	cg := filepath.Join(testutil.TempCgroup(b), "ctr")
	self.dir = trueBundle(b, cg[len(testutil.UnifiedMount()):], "")
	rts := []runtime{self}
	for _, name := range []string{"runc", "crun"} {
		path, err := exec.LookPath(name)
		if err != nil {
			b.Logf("%s not installed: not compared", name)
			continue
		}
		r := runtime{name: name, dir: trueBundle(b, "", "1.0.2")}
		rroot := b.TempDir()
		r.cmd = func(args ...string) *exec.Cmd {
			return exec.Command(path, append([]string{"--root", rroot}, args...)...)
		}
		if err := quiet(out, r.cmd("run", "--bundle", r.dir, "probe")); err != nil {
			// runc on a hybrid host, crun anywhere but pure cgroup v2.
			b.Logf("%s cannot run the bundle here: %v", name, err)
			continue
		}
		rts = append(rts, r)
	}
	b.Run("run", func(b *testing.B) {
		var runs []testutil.Run
		for _, r := range rts {
			runs = append(runs, testutil.Run{Name: r.name, Once: func() error {
				return quiet(out, r.cmd("run", "--bundle", r.dir, "b1"))
			}})
		}
		testutil.Interleave(b, runs)
	})
	b.Run("create-start-delete", func(b *testing.B) {
		var runs []testutil.Run
		for _, r := range rts {
			runs = append(runs, testutil.Run{Name: r.name, Once: func() error {
				for _, args := range [][]string{{"create", "--bundle", r.dir, "b2"}, {"start", "b2"}, {"delete", "--force", "b2"}} {
					if err := quiet(out, r.cmd(args...)); err != nil {
						return err
					}
				}
				return nil
			}})
		}
		testutil.Interleave(b, runs)
	})
}

// quiet runs c with its output in a file in dir (a created container
// keeps the runtime's stdio, and a pipe would never end), returning it on
// failure.
func quiet(dir string, c *exec.Cmd) error {
	f, err := os.CreateTemp(dir, "out")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	c.Stdout, c.Stderr = f, f
	if err := c.Run(); err != nil {
		out, _ := os.ReadFile(f.Name())
		return fmt.Errorf("%v: %v: %s", c.Args, err, out)
	}
	return nil
}

// trueBundle is a busybox bundle running /bin/true with the default spec;
// cgroupsPath "" leaves the choice to the runtime; ociVersion, when set,
// replaces the spec's (crun 1.8 refuses 1.2's: the content is the same).
func trueBundle(b *testing.B, cgroupsPath, ociVersion string) string {
	rootfs := testutil.BusyboxRoot(b, []string{"proc", "sys", "dev", "tmp"}, "sh", "true")
	dir := filepath.Dir(rootfs)
	s := defaultSpec()
	s.Process.Terminal, s.Process.Args = false, []string{"/bin/true"}
	s.Root.Path, s.Linux.CgroupsPath = "root", cgroupsPath
	if ociVersion != "" {
		s.Version = ociVersion
	}
	j, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), j, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}
