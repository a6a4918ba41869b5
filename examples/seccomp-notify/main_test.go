package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

// TestExample builds the example, runs it and checks that each of the
// three answers reached the child as the kernel delivered them, and that
// neither the example (it checks its own fds) nor its child outlived it.
func TestExample(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireKernel(t, "5.14") // SECCOMP_ADDFD_FLAG_SEND
	goBin := testutil.RequireCommand(t, "go")
	testutil.CheckLeaks(t)
	bin := filepath.Join(t.TempDir(), "seccomp-notify")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outB, err := exec.CommandContext(ctx, bin, "-timeout", "45s").CombinedOutput()
	out := string(outB)
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	for _, want := range []string{
		`supervisor: openat("/confine-demo/greeting") by pid `,
		// The path exists nowhere: only the injected memfd can say this.
		`child: /confine-demo/greeting: opened as fd \d+, read "hello from the supervisor\n"`,
		`supervisor: openat("/confine-demo/secret") by pid \d+: denied with EACCES`,
		`child: /confine-demo/secret: open failed: EACCES`,
		`supervisor: openat("/dev/null") by pid \d+: let the kernel run it`,
		`child: /dev/null: opened as fd \d+, read ""`,
		`supervisor: listener hung up after \d+ notifications`,
		`supervisor: no fds left open`,
	} {
		if !regexp.MustCompile(quoteExceptDigits(want)).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The fd the child was given is the number the supervisor reported.
	sup := regexp.MustCompile(`the call returns fd (\d+)`).FindStringSubmatch(out)
	child := regexp.MustCompile(`greeting: opened as fd (\d+)`).FindStringSubmatch(out)
	if sup == nil || child == nil || sup[1] != child[1] {
		t.Errorf("injected fd %v, child used %v", sup, child)
	}
	m := regexp.MustCompile(`started child pid (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no child pid in output:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil && exe == bin {
		t.Errorf("child %d still running after the example exited", pid)
	}
}

// quoteExceptDigits quotes s for a regexp, all but its `\d+`.
func quoteExceptDigits(s string) string {
	parts := strings.Split(s, `\d+`)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return strings.Join(parts, `\d+`)
}
