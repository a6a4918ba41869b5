package testutil

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTempNetnsIsANewNamespace(t *testing.T) {
	RequireRoot(t)
	p := TempNetns(t)
	var mine, theirs unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &mine); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(p, &theirs); err != nil {
		t.Fatal(err)
	}
	if mine.Ino == theirs.Ino {
		t.Fatalf("temp netns %s has the caller's inode %d", p, mine.Ino)
	}
}

func TestTempCgroupIsRemoved(t *testing.T) {
	RequireRoot(t)
	var dir string
	t.Run("create", func(t *testing.T) {
		dir = TempCgroup(t)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s still there after cleanup: %v", dir, err)
	}
}

func TestStrictTurnsSkipIntoFailure(t *testing.T) {
	t.Setenv(EnvStrict, "1")
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		Skip(ft, "missing %s", "thing")
	}()
	if !ft.failed || ft.skipped {
		t.Fatalf("strict Skip: failed=%v skipped=%v", ft.failed, ft.skipped)
	}
}

type fakeTB struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true; panic("fatal") }
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true; panic("skip") }

func TestMain(m *testing.M) {
	RunHelperIfAsked()
	os.Exit(m.Run())
}

func TestHelperExit(t *testing.T) {
	err := HelperCommand(t, "exit", "7").Run()
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 7 {
		t.Fatalf("helper exit 7: %v", err)
	}
}

// A host-property skip stays a skip in strict runs on the host (CI hosts
// differ) but fails inside the VM, where the test bed guarantees it.
func TestSkipHostFailsOnlyInVM(t *testing.T) {
	t.Setenv(EnvStrict, "1")
	for _, vm := range []string{"", "1"} {
		t.Setenv(EnvVM, vm)
		ft := &fakeTB{TB: t}
		func() {
			defer func() { _ = recover() }()
			SkipHost(ft, "TestVMThing", "no %s here", "thing")
		}()
		if wantFail := vm == "1"; ft.failed != wantFail || ft.skipped == wantFail {
			t.Errorf("%s=%q: failed=%v skipped=%v", EnvVM, vm, ft.failed, ft.skipped)
		}
	}
}

// The int $0x80 probe runs in a child, so a host that faults on it only
// reports an error; in the VM the emulated CPU runs it.
func TestInt80ProbeSurvives(t *testing.T) {
	err := Int80Works()
	t.Logf("int $0x80 on this host: %v", err)
	if InVM() && err != nil {
		t.Fatalf("int $0x80 must work in the VM: %v", err)
	}
}
