package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/netns"
)

func TestMain(m *testing.M) {
	os.Exit(testutil.RunPreservingNetns(m))
}

// build compiles the example into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	goBin := testutil.RequireCommand(t, "go")
	bin := filepath.Join(t.TempDir(), "netns-veth")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var createdRE = regexp.MustCompile(`created netns (\S+) `)

// assertGone fails if any namespace the example reported is still named.
func assertGone(t *testing.T, output string) {
	t.Helper()
	m := createdRE.FindAllStringSubmatch(output, -1)
	if len(m) != 2 {
		t.Fatalf("want 2 created namespaces in output:\n%s", output)
	}
	names, err := netns.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m {
		for _, n := range names {
			if n == c[1] {
				t.Errorf("namespace %s still in %s after exit", n, netns.RunDir)
				netns.Delete(n)
			}
		}
	}
}

func TestExampleEchoesAndCleansUp(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "-message", "ping across").CombinedOutput()
	if err != nil {
		t.Fatalf("netns-veth: %v\n%s", err, out)
	}
	s := string(out)
	want := `10.203.0.1:\d+ -> 10.203.0.2:\d+: sent "ping across", echoed "ping across"`
	if !regexp.MustCompile(want).MatchString(s) {
		t.Fatalf("no echo line matching %s in:\n%s", want, s)
	}
	if strings.Count(s, "deleted netns ") != 2 {
		t.Fatalf("want 2 deletions in:\n%s", s)
	}
	assertGone(t, s)
}

// On SIGTERM while holding, the example still deletes what it made.
func TestExampleCleansUpOnSignal(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin, "-hold", "2m")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var sb strings.Builder
	sc := bufio.NewScanner(stdout)
	holding := false
	for !holding && sc.Scan() {
		sb.WriteString(sc.Text() + "\n")
		holding = strings.HasPrefix(sc.Text(), "holding for")
	}
	if !holding {
		cmd.Wait()
		t.Fatalf("example did not reach the hold:\n%s%s", sb.String(), stderr.String())
	}
	// While it holds, its namespaces exist.
	for _, c := range createdRE.FindAllStringSubmatch(sb.String(), -1) {
		h, err := netns.OpenName(c[1])
		if err != nil {
			t.Errorf("while holding: %v", err)
		}
		h.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
			sb.WriteString(sc.Text() + "\n")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("example did not exit within 30s of SIGTERM")
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("after SIGTERM: %v, stderr %q; want exit 1 and \"interrupted\"", err, stderr.String())
	}
	assertGone(t, sb.String())
}
