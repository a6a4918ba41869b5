package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

const (
	// EnvStrict turns skips from Require* helpers into failures.
	EnvStrict = "CONFINE_STRICT"
	// EnvVM is set to 1 by the VM runner's init inside the VM.
	EnvVM = "CONFINE_VM"
)

// Strict reports whether skips are turned into failures.
func Strict() bool { return os.Getenv(EnvStrict) == "1" }

// InVM reports whether the test runs inside the test bed's VM.
func InVM() bool { return os.Getenv(EnvVM) == "1" }

// Skip skips the test with reason, or fails it in strict mode.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("required by this test but missing (strict mode, %s=1): "+format,
			append([]any{EnvStrict}, args...)...)
	}
	t.Skipf(format, args...)
}

// RequireVM skips a tier-3 test outside the VM. It never fails: the host
// tier excludes TestVM* by name and `make test-vm` runs them in the VM.
func RequireVM(t testing.TB) {
	t.Helper()
	if !InVM() {
		t.Skip("tier-3 test: runs inside the test VM (make test-vm)")
	}
}

// RequireRoot skips (or fails in strict mode) unless running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (euid is %d)", os.Geteuid())
	}
}

// RequireKernel skips (or fails) on kernels older than min ("5.7").
func RequireKernel(t testing.TB, min string) {
	t.Helper()
	want, err := internal.ParseVersion(min)
	if err != nil {
		t.Fatalf("RequireKernel(%q): %v", min, err)
	}
	have, err := internal.KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	if have.Less(want) {
		Skip(t, "needs Linux %s, running %s", min, have)
	}
}

// RequireCommand skips (or fails) unless name is found in PATH.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "needs the %q command: %v", name, err)
	}
	return p
}

// UnifiedMount returns where the cgroup v2 hierarchy is mounted:
// /sys/fs/cgroup on pure v2 hosts, /sys/fs/cgroup/unified on hybrid hosts,
// or "" when there is none.
func UnifiedMount() string {
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	return ""
}

// RequireUnified skips (or fails) without a cgroup v2 mount, and returns it.
func RequireUnified(t testing.TB) string {
	t.Helper()
	root := UnifiedMount()
	if root == "" {
		Skip(t, "no cgroup v2 hierarchy mounted")
	}
	return root
}

// RequireController skips (or fails) unless the cgroup v2 root offers the
// controller (e.g. "memory"). On hybrid hosts most controllers are bound to
// cgroup v1 and are not offered.
func RequireController(t testing.TB, name string) {
	t.Helper()
	root := RequireUnified(t)
	b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(b)), name) {
		Skip(t, "cgroup v2 controller %q not available at %s (have: %s)",
			name, root, bytes.TrimSpace(b))
	}
}
