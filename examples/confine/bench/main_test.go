package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

func TestMain(m *testing.M) {
	namespace.Init() // the pooled spawn row re-executes this binary as its inits
	os.Exit(m.Run())
}

// TestSuite runs the whole benchmark briefly (tier 2: root on the host)
// and checks every measurement produced a value or says why it could not.
func TestSuite(t *testing.T) {
	testutil.RequireRoot(t)
	goBin := testutil.RequireCommand(t, "go")
	testutil.RequireCommand(t, "busybox")
	testutil.RequireCommand(t, "unshare")
	bin := filepath.Join(t.TempDir(), "confine")
	build := exec.Command(goBin, "build", "-o", bin, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building confine: %v\n%s", err, out)
	}
	var b strings.Builder
	if err := suite(&b, bin, 3, ""); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	t.Log("\n" + table)
	required := []string{"spawn: `confine run`", "spawn: `unshare", "cgroup: New + Delete", "cgroup: Stats", "seccomp: compile", "bandwidth: `confine run"}
	// The paired ratio, the throughput and the memory rows are measured
	// against bwrap; hosts of this kind do not all have it installed.
	if _, err := exec.LookPath("bwrap"); err == nil {
		required = append(required, "spawn: `confine run` / `bwrap", "spawn throughput, 8 parallel", "supervisor memory",
			"spawn, library from a warm `namespace.Pool`")
	} else if !strings.Contains(table, "| n/a | bwrap not installed |") {
		t.Errorf("bwrap is not installed, but the table does not say so")
	}
	for _, want := range required {
		line := ""
		for _, l := range strings.Split(table, "\n") {
			if strings.HasPrefix(l, "| "+want) {
				line = l
				break
			}
		}
		if line == "" || strings.Contains(line, "| failed |") || strings.Contains(line, "| n/a |") {
			t.Errorf("%s: no measurement in %q", want, line)
		}
	}
}
