package seccomp

import "golang.org/x/sys/unix"

// Flags are seccomp(2) SECCOMP_SET_MODE_FILTER flags.
type Flags uint

// The filter flags.
const (
	FlagTSYNC       Flags = unix.SECCOMP_FILTER_FLAG_TSYNC
	FlagLog         Flags = unix.SECCOMP_FILTER_FLAG_LOG
	FlagSpecAllow   Flags = unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
	FlagNewListener Flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	FlagTSYNCESRCH  Flags = unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	// FlagWaitKillableRecv needs Linux 5.19.
	FlagWaitKillableRecv Flags = unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
)

var flagNames = map[string]Flags{
	"SECCOMP_FILTER_FLAG_TSYNC":              FlagTSYNC,
	"SECCOMP_FILTER_FLAG_LOG":                FlagLog,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW":         FlagSpecAllow,
	"SECCOMP_FILTER_FLAG_NEW_LISTENER":       FlagNewListener,
	"SECCOMP_FILTER_FLAG_TSYNC_ESRCH":        FlagTSYNCESRCH,
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": FlagWaitKillableRecv,
}

// ProfileFlags returns the flags the profile's "flags" field asks for.
func (p *Profile) ProfileFlags() Flags {
	var f Flags
	for _, n := range p.Flags {
		f |= flagNames[n]
	}
	return f
}
