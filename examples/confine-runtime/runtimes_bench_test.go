package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/internal/testutil"
)

// BenchmarkRuntimes times the runtime-spec lifecycle of a busybox bundle
// running /bin/true (the default spec: six namespaces, read-only root,
// the default seccomp profile and devices) for confine-runtime interleaved
// with runc and crun where they run, from each command's start to its
// exit, so that a busy host slows them alike: `run` alone, and the three
// processes an engine runs, create + start + delete --force. It reports
// each runtime's median and confine-runtime's ratio to each other.
//
// confine-runtime is the real binary, built for the benchmark where the go
// command is at hand (a test binary acting as the runtime starts slower
// than the one users run); in the VM, which has no toolchain, it is this
// test binary. crun refuses hybrid cgroup hosts, so on this project's
// hosts it runs in the VM, where `make bench-runtimes` carries runc and
// crun with their shared libraries (vmtest.Config.Programs) and the
// hierarchy is pure cgroup v2 for all three.
func BenchmarkRuntimes(b *testing.B) {
	rts := benchRuntimes(b)
	b.Run("run", func(b *testing.B) {
		var runs []testutil.Run
		for _, r := range rts {
			runs = append(runs, testutil.Run{Name: r.name, Once: func() error { return r.do("run", "b1") }})
		}
		testutil.Interleave(b, runs)
	})
	b.Run("create-start-delete", func(b *testing.B) {
		var runs []testutil.Run
		for _, r := range rts {
			runs = append(runs, testutil.Run{Name: r.name, Once: func() error {
				for _, args := range [][]string{{"create", "b2"}, {"start", "b2"}, {"delete", "--force", "b2"}} {
					if err := r.do(args...); err != nil {
						return err
					}
				}
				return nil
			}})
		}
		testutil.Interleave(b, runs)
	})
}

// benchRuntime runs one runtime's commands with its own --root, in its
// own /bin/true bundle.
type benchRuntime struct {
	name string
	do   func(args ...string) error
}

// benchRuntimes returns confine-runtime first, then runc and crun where
// installed and able to run the bundle here.
func benchRuntimes(b *testing.B) []benchRuntime {
	testutil.RequireRoot(b)
	exe, env := filepath.Join(b.TempDir(), "confine-runtime"), []string(nil)
	if goTool, err := exec.LookPath("go"); err == nil {
		build := exec.Command(goTool, "build", "-o", exe, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("building confine-runtime: %v\n%s", err, out)
		}
	} else {
		if exe, err = os.Executable(); err != nil {
			b.Fatal(err)
		}
		env = append(os.Environ(), envAsRuntime+"=1")
		b.Log("no go command (the VM): confine-runtime is this test binary acting as it")
	}
	cg := filepath.Join(testutil.TempCgroup(b), "ctr")
	rts := []benchRuntime{{"confine-runtime",
		runner(exe, env, b.TempDir(), benchBundle(b, cg[len(testutil.UnifiedMount()):], "/bin/true"))}}
	for _, name := range []string{"runc", "crun"} {
		path, err := exec.LookPath(name)
		if err != nil {
			b.Logf("%s not installed: not compared", name)
			continue
		}
		// The same spec under the version both know (crun 1.8 refuses
		// 1.2's); cgroupsPath "" leaves the cgroup to the runtime.
		dir := benchBundle(b, "", "/bin/true")
		setSpecVersion(b, dir, "1.0.2")
		do := runner(path, nil, b.TempDir(), dir)
		if err := do("run", "probe"); err != nil {
			// runc on a hybrid host, crun anywhere but pure cgroup v2.
			b.Logf("%s cannot run the bundle here: %v", name, err)
			continue
		}
		rts = append(rts, benchRuntime{name, do})
	}
	return rts
}

// runner runs path with --root root in the bundle directory; stdio is
// /dev/null, so a created container holds no pipe. On failure it runs
// nothing again: the error names the command.
func runner(path string, env []string, root, bundle string) func(...string) error {
	return func(args ...string) error {
		c := exec.Command(path, append([]string{"--root", root}, args...)...)
		c.Dir, c.Env = bundle, env
		if err := c.Run(); err != nil {
			return fmt.Errorf("%s %s: %w", filepath.Base(path), strings.Join(args, " "), err)
		}
		return nil
	}
}

// setSpecVersion rewrites the bundle's ociVersion.
func setSpecVersion(b *testing.B, dir, v string) {
	p := filepath.Join(dir, "config.json")
	j, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(j, &s); err != nil {
		b.Fatal(err)
	}
	s.Version = v
	if j, err = json.Marshal(&s); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, j, 0o644); err != nil {
		b.Fatal(err)
	}
}
