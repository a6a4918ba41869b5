package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

func TestMain(m *testing.M) {
	namespace.Init()
	if len(os.Args) > 1 && os.Args[1] == initSubcommand {
		// This test binary is the sandbox's --init (in-process runs).
		os.Exit(run(os.Args[1:]))
	}
	testutil.RegisterHelper("confine", run)
	testutil.RunHelperIfAsked()
	// The runs create the default parent cgroup (<v2 root>/confine) as
	// users' runs do; remove it again if the tests made it and left it
	// empty (rmdir refuses a cgroup with children).
	parent := ""
	if h, err := cgroup.Detect(); err == nil {
		if _, err := os.Stat(parentPath(h, "")); os.IsNotExist(err) {
			parent = parentPath(h, "")
		}
	}
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if parent != "" {
		_ = os.Remove(parent)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// confineBinary builds the CLI once per test run, as users build it.
func confineBinary(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	goBin := testutil.RequireCommand(t, "go")
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "confine-cli-test-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "confine")
		// Static, as --init inside a --rootfs needs (and as `make demo` builds).
		build := exec.Command(goBin, "build", "-o", buildBin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// result is one finished confine invocation.
type result struct {
	code           int
	stdout, stderr string
}

// confine runs the built binary with args and returns its status and output.
func confine(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(confineBinary(t), args...)
	cmd.Dir = "/"
	return runCmd(t, cmd)
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	t.Logf("%v: exit %d\nstdout: %s\nstderr: %s", cmd.Args[1:], r.code, r.stdout, r.stderr)
	return r
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
