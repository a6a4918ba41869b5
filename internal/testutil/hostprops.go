package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/rawsys"
)

// Host properties. Machines of the same kind differ from host to host (one
// faults on int $0x80, one has no fq qdisc, one lacks a capability in every
// bounding set): a test whose claim depends on such a property asks for it
// here in one line. Where the host lacks it the test skips with the probe's
// finding and the name of the test that proves the same claim instead (in
// the VM tier, whose kernel and emulated CPU have every property); inside
// the VM the same call fails in strict mode, so the claim is always tested
// somewhere.

// SkipHost skips a test because the host lacks a property its claim needs.
// provenBy names the test that proves the claim instead. Unlike Skip it
// does not fail in strict mode outside the VM, since CI machines differ
// from host to host; inside the VM it does, since the test bed guarantees
// the property there.
func SkipHost(t testing.TB, provenBy, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...) + "; proven instead by " + provenBy
	if InVM() {
		Skip(t, "%s", reason)
		return
	}
	t.Skipf("host property: %s", reason)
}

const int80Helper = "testutil-int80"

func init() { helpers[int80Helper] = helperInt80 }

// helperInt80 calls i386 getpid through int $0x80: exit 0 when it returns
// this process's pid; a host that cannot run the gate kills it (SIGSEGV).
func helperInt80([]string) int {
	if got := rawsys.Int80(20, 0, 0, 0); got != int64(os.Getpid()) {
		fmt.Fprintf(os.Stderr, "i386 getpid through int $0x80 = %d, want %d\n", got, os.Getpid())
		return 1
	}
	return 0
}

// int80Probe runs helperInt80 in a child once per test binary: the
// instruction can crash the process that executes it.
var int80Probe = sync.OnceValue(func() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), EnvHelper+"="+int80Helper, "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("a child issuing i386 getpid through int $0x80: %v (%s)", err, firstLine(out))
	}
	return nil
})

// Int80Works reports whether this host runs the i386 syscall gate
// (int $0x80) from a 64-bit process. The package's TestMain must call
// RunHelperIfAsked.
func Int80Works() error { return int80Probe() }

// RequireInt80 skips (see SkipHost) unless the host runs int $0x80.
func RequireInt80(t testing.TB, provenBy string) {
	t.Helper()
	if err := Int80Works(); err != nil {
		SkipHost(t, provenBy, "int $0x80 does not work on this host (probe: %v)", err)
	}
}

// LegacyTIOCSTI reports dev.tty.legacy_tiocsti: whether TIOCSTI works at
// all (without CAP_SYS_ADMIN) on this kernel. Kernels before 6.2 have no
// sysctl and always allow it.
func LegacyTIOCSTI() bool {
	b, err := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti")
	return err != nil || strings.TrimSpace(string(b)) != "0"
}

// RequireLegacyTIOCSTI skips (see SkipHost) unless TIOCSTI is enabled.
func RequireLegacyTIOCSTI(t testing.TB, provenBy string) {
	t.Helper()
	if !LegacyTIOCSTI() {
		SkipHost(t, provenBy, "dev.tty.legacy_tiocsti is 0 on this host")
	}
}

// BoundingCaps returns this process's capability bounding set (CapBnd of
// /proc/self/status). On some hosts a capability (e.g. CAP_SYS_RESOURCE)
// is missing from every process's set.
func BoundingCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// RequireCapability skips (see SkipHost) unless capability number capNr
// is in this process's bounding set.
func RequireCapability(t testing.TB, capNr int, provenBy string) {
	t.Helper()
	bnd, err := BoundingCaps()
	if err != nil {
		t.Fatal(err)
	}
	if bnd&(1<<capNr) == 0 {
		SkipHost(t, provenBy, "capability %d is not in this host's bounding set (CapBnd %#x)", capNr, bnd)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// RestoreNode puts the host's file p back as it was in st (mode, owner,
// times), should a test's attack on it have gone through: a check that
// fails must not leave the host changed for the tests that follow.
func RestoreNode(t testing.TB, p string, st *unix.Stat_t) {
	var now unix.Stat_t
	if unix.Stat(p, &now) != nil || (now.Mode == st.Mode && now.Uid == st.Uid && now.Gid == st.Gid && now.Mtim == st.Mtim) {
		return
	}
	_ = unix.Chmod(p, st.Mode&0o7777)
	_ = unix.Chown(p, int(st.Uid), int(st.Gid))
	_ = unix.UtimesNano(p, []unix.Timespec{st.Atim, st.Mtim})
	t.Logf("restored the host's %s", p)
}
