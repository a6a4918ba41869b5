package seccomp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestLoadValidatesFirst(t *testing.T) {
	ok := NewProgram([]unix.SockFilter{{Code: 0x06, K: unix.SECCOMP_RET_ALLOW}})
	var fe *InvalidError
	for _, f := range []Flags{1 << 20, FlagTSYNC | FlagNewListener, FlagWaitKillableRecv} {
		if _, err := Load(ok, LoadOptions{Flags: f}); !errors.As(err, &fe) {
			t.Errorf("flags %#x: %v", uint(f), err)
		}
	}
	if _, err := Load(nil, LoadOptions{}); err == nil {
		t.Error("nil program loaded")
	}
	bad := NewProgram([]unix.SockFilter{{Code: 0x20, K: 64}, {Code: 0x06}})
	if _, err := Load(bad, LoadOptions{}); err == nil {
		t.Error("program reading past seccomp_data loaded")
	}
}

func init() {
	testutil.RegisterHelper("seccomp-privs", helperPrivs)
	testutil.RegisterHelper("seccomp-flags", helperFlags)
}

// helperPrivs drops CAP_SYS_ADMIN from its effective set on its thread and
// loads with KeepPrivileges: that must fail with *PrivilegeError, and
// loading without KeepPrivileges (setting no_new_privs) must then work.
func helperPrivs([]string) int {
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		fmt.Println("capget", err)
		return 3
	}
	data[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		fmt.Println("capset", err)
		return 3
	}
	prog := NewProgram([]unix.SockFilter{{Code: 0x06, K: unix.SECCOMP_RET_ALLOW}})
	_, err := Load(prog, LoadOptions{KeepPrivileges: true})
	var pe *PrivilegeError
	fmt.Println("keep", errors.As(err, &pe))
	_, err = Load(prog, LoadOptions{})
	nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	fmt.Println("nnp", err == nil, nnp)
	return 0
}

func TestPrivilegeError(t *testing.T) {
	testutil.RequireRoot(t) // the child needs CAP_SYS_ADMIN to drop it
	out, err := testutil.HelperCommand(t, "seccomp-privs").Output()
	if err != nil || string(out) != "keep true\nnnp true 1\n" {
		t.Fatalf("child: %v: %q", err, out)
	}
}

// helperFlags loads with each flag the kernel knows and reports errors.
// The thread is locked: TSYNC fails when another thread holds a filter
// that is not an ancestor of the caller's.
func helperFlags([]string) int {
	runtime.LockOSThread()
	prog := NewProgram([]unix.SockFilter{{Code: 0x06, K: unix.SECCOMP_RET_ALLOW}})
	for _, f := range []Flags{FlagLog, FlagSpecAllow, FlagTSYNC | FlagTSYNCESRCH, FlagTSYNC | FlagLog} {
		if _, err := Load(prog, LoadOptions{Flags: f}); err != nil {
			fmt.Fprintln(os.Stderr, f, err)
			return 3
		}
	}
	l, err := Load(prog, LoadOptions{Flags: FlagNewListener | FlagWaitKillableRecv})
	if err != nil || l.FD() < 0 {
		fmt.Fprintln(os.Stderr, "listener", err)
		return 3
	}
	l.Close()
	return 0
}

func TestLoadFlags(t *testing.T) {
	testutil.RequireKernel(t, "5.19") // WAIT_KILLABLE_RECV, the newest flag used
	if err := testutil.HelperCommand(t, "seccomp-flags").Run(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

func TestFlagsMinKernel(t *testing.T) {
	for f, want := range map[Flags]string{0: "3.17", FlagTSYNC: "3.17", FlagLog | FlagTSYNC: "4.14",
		FlagNewListener | FlagSpecAllow: "5.0", FlagWaitKillableRecv | FlagNewListener: "5.19"} {
		if got := flagsMinKernel(f); got != want {
			t.Errorf("%#x: %s, want %s", uint(f), got, want)
		}
	}
	err := loadError(FlagTSYNCESRCH|FlagTSYNC, unix.EINVAL)
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("EINVAL with flags: %v", err)
	}
	if err := loadError(0, unix.EACCES); !errors.Is(err, unix.EACCES) {
		t.Errorf("EACCES: %v", err)
	}
}
