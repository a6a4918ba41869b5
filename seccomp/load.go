package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/cbpf"
	"golang.org/x/sys/unix"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Flags for seccomp(2). A Go process filtering itself wants FlagTSYNC:
	// without it only the calling OS thread (lock it first) is filtered.
	Flags Flags
	// KeepPrivileges leaves no_new_privs off; the caller then needs
	// CAP_SYS_ADMIN, else Load returns a *PrivilegeError.
	KeepPrivileges bool
}

// PrivilegeError says the filter cannot be loaded: no_new_privs is off and
// the caller lacks CAP_SYS_ADMIN.
type PrivilegeError struct{}

func (*PrivilegeError) Error() string {
	return "seccomp: loading filter: no_new_privs is off and CAP_SYS_ADMIN is missing"
}

const allFlags = FlagTSYNC | FlagLog | FlagSpecAllow | FlagNewListener | FlagTSYNCESRCH | FlagWaitKillableRecv

// Load installs prog with seccomp(2) on the calling thread (every thread
// with FlagTSYNC). With FlagNewListener it returns the user notification
// listener, else a nil *Listener. The program is validated first.
func Load(prog *Program, opts LoadOptions) (*Listener, error) {
	f := opts.Flags
	switch {
	case prog == nil:
		return nil, invalid("prog", "<nil>", "no program")
	case f&^allFlags != 0:
		return nil, flagsErr(f, "unknown flag")
	case f&FlagTSYNC != 0 && f&FlagNewListener != 0 && f&FlagTSYNCESRCH == 0:
		return nil, flagsErr(f, "TSYNC with NEW_LISTENER needs TSYNC_ESRCH")
	case f&FlagWaitKillableRecv != 0 && f&FlagNewListener == 0:
		return nil, flagsErr(f, "WAIT_KILLABLE_RECV needs NEW_LISTENER")
	}
	insns := prog.Instructions()
	if err := cbpf.Validate(insns); err != nil {
		return nil, fmt.Errorf("seccomp: invalid program: %w", err)
	}
	if err := privileges(opts.KeepPrivileges); err != nil {
		return nil, err
	}
	fprog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(f), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(insns)
	if errno != 0 {
		return nil, loadError(f, errno)
	}
	if f&FlagNewListener != 0 {
		return &Listener{fd: int(r)}, nil
	}
	if f&FlagTSYNC != 0 && r != 0 {
		return nil, fmt.Errorf("seccomp: loading filter: thread %d cannot be synchronised", r)
	}
	return nil, nil
}

func loadError(f Flags, errno unix.Errno) error {
	if errno == unix.EINVAL && f != 0 {
		// An old kernel rejects flags it does not know with EINVAL.
		return internal.Unsupported(fmt.Sprintf("seccomp filter flags %#x", uint(f)), flagsMinKernel(f), errno)
	}
	if errno == unix.EACCES {
		return fmt.Errorf("%w: %w", &PrivilegeError{}, errno)
	}
	return fmt.Errorf("seccomp: loading filter: %w", errno)
}

// privileges sets no_new_privs unless keep, in which case CAP_SYS_ADMIN is
// required.
func privileges(keep bool) error {
	if nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err == nil && nnp == 1 {
		return nil
	}
	if !keep {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("seccomp: setting no_new_privs: %w", err)
		}
		return nil
	}
	if !hasSysAdmin() {
		return &PrivilegeError{}
	}
	return nil
}

func hasSysAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0
}

// flagsMinKernel returns the first kernel that knows every flag in f.
func flagsMinKernel(f Flags) string {
	v := "3.17" // seccomp(2) and TSYNC
	for _, x := range []struct {
		f Flags
		v string
	}{{FlagLog, "4.14"}, {FlagSpecAllow, "4.17"}, {FlagNewListener, "5.0"}, {FlagTSYNCESRCH, "5.7"}, {FlagWaitKillableRecv, "5.19"}} {
		if f&x.f != 0 {
			v = x.v
		}
	}
	return v
}

func flagsErr(f Flags, reason string) error {
	return invalid("LoadOptions.Flags", fmt.Sprintf("%#x", uint(f)), reason)
}
