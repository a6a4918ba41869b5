package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ActionKind is what the kernel does with a filtered syscall.
type ActionKind uint8

// Action kinds, ordered as the kernel ranks them (most severe first).
const (
	KillProcess ActionKind = iota + 1
	KillThread
	Trap
	Errno
	UserNotif
	Trace
	Log
	Allow
)

// Action is an ActionKind with its data: the errno for Errno, the message
// for Trace. Data is ignored for the other kinds.
type Action struct {
	Kind ActionKind
	Data uint16
}

// Convenience actions.
var (
	ActAllow       = Action{Kind: Allow}
	ActKillProcess = Action{Kind: KillProcess}
	ActENOSYS      = Action{Kind: Errno, Data: uint16(unix.ENOSYS)}
)

// ActErrno returns the errno(n) action.
func ActErrno(n unix.Errno) Action { return Action{Kind: Errno, Data: uint16(n)} }

// Ret returns the SECCOMP_RET_* value a filter returns for a.
func (a Action) Ret() uint32 {
	switch a.Kind {
	case KillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS
	case KillThread:
		return unix.SECCOMP_RET_KILL_THREAD
	case Trap:
		return unix.SECCOMP_RET_TRAP
	case Errno:
		return unix.SECCOMP_RET_ERRNO | uint32(a.Data)
	case UserNotif:
		return unix.SECCOMP_RET_USER_NOTIF
	case Trace:
		return unix.SECCOMP_RET_TRACE | uint32(a.Data)
	case Log:
		return unix.SECCOMP_RET_LOG
	case Allow:
		return unix.SECCOMP_RET_ALLOW
	}
	return unix.SECCOMP_RET_KILL_PROCESS
}

// ActionFromRet decodes a filter's return value.
func ActionFromRet(ret uint32) Action {
	data := uint16(ret & unix.SECCOMP_RET_DATA)
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return Action{Kind: KillProcess}
	case unix.SECCOMP_RET_KILL_THREAD:
		return Action{Kind: KillThread}
	case unix.SECCOMP_RET_TRAP:
		return Action{Kind: Trap}
	case unix.SECCOMP_RET_ERRNO:
		return Action{Kind: Errno, Data: data}
	case unix.SECCOMP_RET_USER_NOTIF:
		return Action{Kind: UserNotif}
	case unix.SECCOMP_RET_TRACE:
		return Action{Kind: Trace, Data: data}
	case unix.SECCOMP_RET_LOG:
		return Action{Kind: Log}
	case unix.SECCOMP_RET_ALLOW:
		return Action{Kind: Allow}
	}
	return Action{Kind: KillProcess}
}

func (a Action) String() string {
	switch a.Kind {
	case KillProcess:
		return "kill-process"
	case KillThread:
		return "kill-thread"
	case Trap:
		return "trap"
	case Errno:
		return fmt.Sprintf("errno(%d)", a.Data)
	case UserNotif:
		return "user-notif"
	case Trace:
		return fmt.Sprintf("trace(%d)", a.Data)
	case Log:
		return "log"
	case Allow:
		return "allow"
	}
	return fmt.Sprintf("Action(%d)", a.Kind)
}

// JSON action names of the Docker/OCI format.
const (
	NameActKill        = "SCMP_ACT_KILL"
	NameActKillProcess = "SCMP_ACT_KILL_PROCESS"
	NameActKillThread  = "SCMP_ACT_KILL_THREAD"
	NameActTrap        = "SCMP_ACT_TRAP"
	NameActErrno       = "SCMP_ACT_ERRNO"
	NameActTrace       = "SCMP_ACT_TRACE"
	NameActAllow       = "SCMP_ACT_ALLOW"
	NameActLog         = "SCMP_ACT_LOG"
	NameActNotify      = "SCMP_ACT_NOTIFY"
)

// maxErrno is the largest errno the kernel passes through (MAX_ERRNO).
const maxErrno = 4095

// parseAction turns a JSON action and its errnoRet into an Action. As in
// runc and Docker, errno and trace default to EPERM.
func parseAction(name string, errnoRet *uint) (Action, string) {
	data := uint16(unix.EPERM)
	if errnoRet != nil {
		if *errnoRet > maxErrno {
			return Action{}, fmt.Sprintf("errnoRet %d: must be <= %d", *errnoRet, maxErrno)
		}
		data = uint16(*errnoRet)
	}
	switch name {
	case NameActKill, NameActKillThread:
		return Action{Kind: KillThread}, ""
	case NameActKillProcess:
		return Action{Kind: KillProcess}, ""
	case NameActTrap:
		return Action{Kind: Trap}, ""
	case NameActErrno:
		return Action{Kind: Errno, Data: data}, ""
	case NameActTrace:
		return Action{Kind: Trace, Data: data}, ""
	case NameActAllow:
		return Action{Kind: Allow}, ""
	case NameActLog:
		return Action{Kind: Log}, ""
	case NameActNotify:
		return Action{Kind: UserNotif}, ""
	}
	return Action{}, fmt.Sprintf("unknown action %q", name)
}
