package vmtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

func TestTestTimeout(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		d     time.Duration
		found bool
		bad   bool
	}{
		{nil, 0, false, false},
		{[]string{"-test.v", "-test.timeout=10m0s"}, 10 * time.Minute, true, false},
		{[]string{"-test.timeout", "3s"}, 3 * time.Second, true, false},
		{[]string{"--test.timeout=1h"}, time.Hour, true, false},
		{[]string{"-test.timeout=0s"}, 0, true, false},
		{[]string{"-test.run", "-test.timeout=5s"}, 5 * time.Second, true, false},
		{[]string{"-test.timeout=soon"}, 0, false, true},
		{[]string{"-test.timeout=-1s"}, 0, false, true},
		{[]string{"-test.timeout"}, 0, false, true},
	} {
		d, found, err := TestTimeout(tc.args)
		if d != tc.d || found != tc.found || (err != nil) != tc.bad {
			t.Errorf("TestTimeout(%q) = %v, %v, %v", tc.args, d, found, err)
		}
		if err != nil && !strings.Contains(err.Error(), "timeout") {
			t.Errorf("error %q does not name the flag", err)
		}
	}
}

func TestWatchdog(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, DefaultTestTimeout + BootMargin},
		{[]string{"-test.timeout=30s"}, 30*time.Second + BootMargin},
		{[]string{"-test.timeout=0"}, time.Hour + BootMargin},
	} {
		if d, err := Watchdog(tc.args); err != nil || d != tc.want {
			t.Errorf("Watchdog(%q) = %v, %v; want %v", tc.args, d, err, tc.want)
		}
	}
	if _, err := Watchdog([]string{"-test.timeout=x"}); err == nil {
		t.Error("bad timeout accepted")
	}
}

func TestArgsForVM(t *testing.T) {
	in := []string{"-test.paniconexit0", "-test.testlogfile=/tmp/go-build1/testlog.txt", "-test.timeout=10m0s",
		"-test.coverprofile", "/tmp/c.out", "-test.run=^TestVM", "-test.v=true"}
	keep, dropped := VMArgs(in)
	want := []string{"-test.paniconexit0", "-test.timeout=10m0s", "-test.run=^TestVM", "-test.v=true"}
	if !slices.Equal(keep, want) {
		t.Errorf("keep %q, want %q", keep, want)
	}
	if len(dropped) != 2 {
		t.Errorf("dropped %q", dropped)
	}
}

func TestRunScriptQuoting(t *testing.T) {
	sh := testutil.RequireCommand(t, "sh")
	for _, s := range []string{"", "plain", "it's", `a"b`, "$HOME `x` $(y)", "new\nline", "^Test(A|B)$", "*"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) through sh gave %q, %v", s, out, err)
		}
	}
	script := RunScript("pkg.test", []string{"-test.run", "^TestA$"}, []string{"A=1", "BAD-NAME=x", "B=it's"}, "abc")
	for _, want := range []string{"export A='1'\n", `export B='it'\''s'` + "\n", "cd /test/pkg\n",
		"'/test/bin/pkg.test' '-test.run' '^TestA$' </dev/null >/dev/ttyS1 2>&1\n", "'CONFINE-VM-EXIT[abc]='\"$status\""} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "BAD-NAME") {
		t.Errorf("invalid variable name exported:\n%s", script)
	}
}

func TestEnvForVM(t *testing.T) {
	env := VMEnv([]string{"PATH=/host/bin", "HOME=/home/x", "GOTRACEBACK=all", "CONFINE_STRICT=0", "CONFINE_VM=0",
		"CONFINE_TEST_HELPER=alloc", "CONFINE_CACHE=/c", "CONFINE_FOO=bar", "SECRET=1", "CONFINE_VM_ENV=MYVAR", "MYVAR=x"})
	want := []string{"CONFINE_FOO=bar", "CONFINE_STRICT=1", "CONFINE_VM=1", "CONFINE_VM_ENV=MYVAR", "GOTRACEBACK=all",
		"HOME=/root", "MYVAR=x", "PATH=" + VMPath, "TMPDIR=/tmp"}
	if !slices.Equal(env, want) {
		t.Errorf("VMEnv\n got %q\nwant %q", env, want)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, mem := range []string{"2048", "1G", "512M"} {
		if !validMem(mem) {
			t.Errorf("validMem(%q) = false", mem)
		}
	}
	for _, mem := range []string{"", "x", "-1", "0", "1T", "1GG"} {
		if validMem(mem) {
			t.Errorf("validMem(%q) = true", mem)
		}
	}
	cfg := Config{Binary: "x", Mem: "lots"}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), `"lots"`) {
		t.Errorf("bad Mem: %v", err)
	}
	cfg = Config{}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), "Binary") {
		t.Errorf("empty Binary: %v", err)
	}
	for _, f := range []string{"rel/dir", "/", "/test/bin", "/nonexistent-vmtest-file"} {
		cfg = Config{Binary: "x", Files: []string{f}}
		if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), "Config.Files") {
			t.Errorf("Files %q: %v, want an error naming Config.Files", f, err)
		}
	}
	t.Setenv("CONFINE_VM_FILES", t.TempDir()+":"+t.TempDir())
	cfg = Config{Binary: "x"}
	if err := cfg.defaults(); err != nil || len(cfg.Files) != 2 {
		t.Errorf("CONFINE_VM_FILES with two directories: Files %q, %v", cfg.Files, err)
	}
}

func TestCheckStatic(t *testing.T) {
	if err := checkStatic(Busybox); err != nil {
		if _, statErr := os.Stat(Busybox); statErr == nil {
			t.Errorf("static busybox rejected: %v", err)
		}
	}
	sh := testutil.RequireCommand(t, "bash") // Debian's bash is dynamic
	if err := checkStatic(sh); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("dynamic %s: %v", sh, err)
	}
	if err := checkStatic(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing binary accepted")
	}
}

func TestMissingNamesFix(t *testing.T) {
	_, err := FindKernel(t.TempDir())
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "`make provision`") {
		t.Errorf("FindKernel on an empty cache: %v", err)
	}
	_, err = findTool("no-such-qemu-binary")
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "no-such-qemu-binary") ||
		!strings.Contains(err.Error(), "`make provision`") {
		t.Errorf("findTool: %v", err)
	}
}
