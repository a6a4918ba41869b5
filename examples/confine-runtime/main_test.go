package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

// envAsRuntime makes this test binary run as confine-runtime: the tests
// run the runtime as separate processes (create must exit while its
// container waits), and the VM has no Go toolchain to build it.
const envAsRuntime = "CONFINE_RUNTIME_TEST_AS_RUNTIME"

func TestMain(m *testing.M) {
	namespace.Init()
	if os.Getenv(envAsRuntime) == "1" {
		testPhase = phaseHook(os.Getenv(envPhaseLog), os.Getenv(envKillAt))
		os.Exit(runtimeMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// result is one runtime invocation.
type result struct {
	code           int
	stdout, stderr string
}

// runtimeCmd returns the runtime command with --root root.
func runtimeCmd(t *testing.T, root string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), envAsRuntime+"=1", "GORACE=atexit_sleep_ms=0")
	return cmd
}

// rt runs the runtime to completion. The container's stdio is the
// runtime's: stdout and stderr are files, so a detached container never
// holds a pipe this test waits on.
func rt(t *testing.T, root string, args ...string) result {
	t.Helper()
	cmd := runtimeCmd(t, root, args...)
	dir := t.TempDir()
	out, _ := os.Create(filepath.Join(dir, "stdout"))
	errf, _ := os.Create(filepath.Join(dir, "stderr"))
	defer out.Close()
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	err := cmd.Run()
	r := result{}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running the runtime: %v", err)
	}
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	r.stdout, r.stderr = string(o), string(e)
	return r
}

// mustRT runs the runtime and fails the test on a non-zero status.
func mustRT(t *testing.T, root string, args ...string) string {
	t.Helper()
	r := rt(t, root, args...)
	if r.code != 0 {
		t.Fatalf("confine-runtime %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// bundle makes a bundle with a busybox rootfs, the default spec without a
// terminal, args as the process and the container's cgroup below a
// temporary test cgroup; mutate may change the spec. It returns the
// bundle directory and the container cgroup's absolute path.
func bundle(t *testing.T, args []string, mutate func(*specs.Spec)) (string, string) {
	t.Helper()
	testutil.RequireRoot(t)
	rootfs := testutil.BusyboxRoot(t, []string{"proc", "sys", "dev", "tmp", "out"},
		"sh", "true", "sleep", "cat", "touch", "echo", "ps", "id", "ls", "dd", "readlink")
	dir := filepath.Dir(rootfs)
	cg := filepath.Join(testutil.TempCgroup(t), "ctr")
	s := defaultSpec()
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = "root"
	s.Linux.CgroupsPath = strings.TrimPrefix(cg, testutil.UnifiedMount())
	if mutate != nil {
		mutate(s)
	}
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cg
}

// stateRoot is a fresh --root; the test fails if anything is left in it.
func stateRoot(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "state")
	t.Cleanup(func() {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			t.Errorf("left in --root: %s", e.Name())
		}
	})
	return root
}

// outMount binds a host directory at /out for the container to report to.
func outMount(t *testing.T) (string, func(*specs.Spec)) {
	out := t.TempDir()
	return out, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
	}
}

func readOut(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}
