package vmtest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/internal/vmtest"
)

// The runner's boot tests (tier 2: they need the provisioned kernel and
// qemu) run tests of the fixture package testdata/fixture in the VM, five
// boots in parallel.

var fixtureDir = filepath.Join("testdata", "fixture")

var (
	fixtureOnce sync.Once
	fixtureTmp  string
	fixtureBin  string
	fixtureErr  error
)

// fixture builds the fixture's test binary once per run (static, as make
// test-vm builds them).
func fixture(t *testing.T) string {
	t.Helper()
	requireBed(t)
	fixtureOnce.Do(func() {
		fixtureTmp, fixtureErr = os.MkdirTemp("", "vmtest-fixture-")
		if fixtureErr != nil {
			return
		}
		fixtureBin = filepath.Join(fixtureTmp, "fixture.test")
		cmd := exec.Command("go", "test", "-c", "-o", fixtureBin, ".")
		cmd.Dir = fixtureDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fixtureErr = errors.New("building fixture: " + err.Error() + "\n" + string(out))
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureBin
}

func cleanupFixture() {
	if fixtureTmp != "" {
		os.RemoveAll(fixtureTmp)
	}
}

// requireBed skips (fails under CONFINE_STRICT) without qemu and a kernel.
func requireBed(t *testing.T) {
	t.Helper()
	testutil.RequireCommand(t, "qemu-system-x86_64")
	testutil.RequireCommand(t, "go")
	if _, err := vmtest.FindKernel(vmtest.CacheDir()); err != nil {
		testutil.Skip(t, "%v", err)
	}
	if testutil.InVM() {
		t.Skip("boot tests run on the host, not nested in the VM")
	}
}

func runFixture(t *testing.T, timeout time.Duration, args ...string) (int, string, error) {
	t.Helper()
	bin := fixture(t)
	var out, errs bytes.Buffer
	status, err := vmtest.Run(context.Background(), vmtest.Config{
		Binary: bin, Args: args, PkgDir: fixtureDir, Timeout: timeout,
		Stdout: &out, Stderr: &errs,
	})
	t.Logf("status %d, err %v\n--- output ---\n%s--- stderr ---\n%s", status, err, out.String(), errs.String())
	return status, out.String(), err
}

// TestRunnerPass: -run selects, testdata is readable, and the exit status
// survives kernel messages printed on the console while the test runs.
func TestRunnerPass(t *testing.T) {
	t.Parallel() // each boots a VM: mostly waiting on emulation
	status, out, err := runFixture(t, 0, "-test.v", "-test.timeout=2m",
		"-test.run", "^(TestPass|TestTestdata|TestKernelMessage)$")
	if err != nil || status != 0 {
		t.Fatalf("status %d, err %v: want 0, nil", status, err)
	}
	for _, want := range []string{"--- PASS: TestPass", "--- PASS: TestKernelMessage",
		`testdata says "hello from testdata"`, "\nPASS\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, bad := range []string{"TestFail", "TestHang", "CONFINE-VM-EXIT", "\r"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
}

// TestRunnerFailGoTest: a failing test in the VM makes `go test -exec
// vmexec` fail, through the real command.
func TestRunnerFailGoTest(t *testing.T) {
	t.Parallel() // each boots a VM: mostly waiting on emulation
	requireBed(t)
	vmexec := filepath.Join(t.TempDir(), "vmexec")
	if out, err := exec.Command("go", "build", "-o", vmexec, "./cmd/vmexec").CombinedOutput(); err != nil {
		t.Fatalf("building vmexec: %v\n%s", err, out)
	}
	cmd := exec.Command("go", "test", "-count=1", "-exec", vmexec, "-run", "^TestFail$", ".")
	cmd.Dir = fixtureDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	t.Logf("go test -exec vmexec: %v\n%s", err, out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("go test of a failing test in the VM: err %v, want exit status 1", err)
	}
	for _, want := range []string{"--- FAIL: TestFail", "fixture: deliberate failure", "FAIL"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestRunnerTestTimeout: a hanging test is stopped by its own -test.timeout
// inside the VM, with go test's clear message and a failing status.
func TestRunnerTestTimeout(t *testing.T) {
	t.Parallel() // each boots a VM: mostly waiting on emulation
	status, out, err := runFixture(t, 0, "-test.run", "^TestHang$", "-test.timeout=3s")
	if err != nil {
		t.Fatalf("err %v: want the test's own status", err)
	}
	if status == 0 {
		t.Fatal("hanging test passed")
	}
	if !strings.Contains(out, "panic: test timed out after 3s") {
		t.Errorf("output lacks the timeout message")
	}
}

// TestRunnerWatchdog: when the test binary does not stop itself (timeout
// disabled), the watchdog kills the VM and reports a TimeoutError.
func TestRunnerWatchdog(t *testing.T) {
	t.Parallel() // each boots a VM: mostly waiting on emulation
	const watchdog = 25 * time.Second
	fixture(t) // built before the clock starts
	start := time.Now()
	status, _, err := runFixture(t, watchdog, "-test.run", "^TestHang$", "-test.timeout=0")
	took := time.Since(start)
	var te *vmtest.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("status %d, err %v: want a *TimeoutError", status, err)
	}
	if !strings.Contains(err.Error(), "watchdog") {
		t.Errorf("message %q does not say what happened", err)
	}
	if took < watchdog || took > watchdog+30*time.Second {
		t.Errorf("run took %s, want the watchdog's %s (plus a little)", took, watchdog)
	}
}

// TestRunnerKernelPanic: a kernel panic during the test is an error that
// shows the console, not a status.
func TestRunnerKernelPanic(t *testing.T) {
	t.Parallel() // each boots a VM: mostly waiting on emulation
	status, _, err := runFixture(t, 0, "-test.run", "^TestCrash$", "-test.timeout=2m")
	var nm *vmtest.NoMarkerError
	if !errors.As(err, &nm) {
		t.Fatalf("status %d, err %v: want a *NoMarkerError", status, err)
	}
	if !strings.Contains(nm.Console, "Kernel panic") {
		t.Errorf("console tail lacks the panic:\n%s", nm.Console)
	}
}
