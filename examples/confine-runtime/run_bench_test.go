package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// BenchmarkRunVsRunc measures `run ID` of a busybox bundle running
// /bin/true (the default spec: six namespaces, read-only root, the
// default seccomp profile and devices), from the start of the runtime's
// process to its exit, create to delete included, interleaved with runc
// on the same kind of bundle so that a busy host slows both alike. It
// reports both medians and confine-runtime's ratio to runc (x-runc).
// confine-runtime is the real binary, built for the benchmark: a test
// binary acting as the runtime would start slower than the one users run.
func BenchmarkRunVsRunc(b *testing.B) {
	crt, runc := benchRuntimes(b)
	testutil.Interleave(b, []testutil.Run{
		{Name: "confine-runtime", Once: func() error { return crt("run", "r1") }},
		{Name: "runc", Once: func() error { return runc("run", "r1") }},
	})
}

// BenchmarkCreateStartDeleteVsRunc is BenchmarkRunVsRunc for the
// separate steps an engine runs: create, start and delete --force, three
// runtime processes per container.
func BenchmarkCreateStartDeleteVsRunc(b *testing.B) {
	crt, runc := benchRuntimes(b)
	steps := func(rt func(...string) error) func() error {
		return func() error {
			for _, args := range [][]string{{"create", "c1"}, {"start", "c1"}, {"delete", "--force", "c1"}} {
				if err := rt(args...); err != nil {
					return err
				}
			}
			return nil
		}
	}
	testutil.Interleave(b, []testutil.Run{
		{Name: "confine-runtime", Once: steps(crt)},
		{Name: "runc", Once: steps(runc)},
	})
}

// benchRuntimes builds confine-runtime and returns a runner for it and one
// for runc, each with its own --root and /bin/true bundle. It skips
// without root or runc.
func benchRuntimes(b *testing.B) (crt, runc func(args ...string) error) {
	testutil.RequireRoot(b)
	runcPath, err := exec.LookPath("runc")
	if err != nil {
		b.Skipf("needs runc to compare with: %v", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skipf("needs the go command to build confine-runtime: %v", err)
	}
	exe := filepath.Join(b.TempDir(), "confine-runtime")
	build := exec.Command(goTool, "build", "-o", exe, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building confine-runtime: %v\n%s", err, out)
	}
	cg := filepath.Join(testutil.TempCgroup(b), "ctr")
	cdir, croot := benchBundle(b, cg[len(testutil.UnifiedMount()):], "/bin/true"), b.TempDir()
	rdir, rroot := benchBundle(b, "", "/bin/true"), b.TempDir()
	runner := func(path, root, bundle string) func(...string) error {
		return func(args ...string) error {
			c := exec.Command(path, append([]string{"--root", root}, args...)...)
			c.Dir = bundle // stdio: /dev/null, so a created container holds no pipe
			return c.Run()
		}
	}
	return runner(exe, croot, cdir), runner(runcPath, rroot, rdir)
}
