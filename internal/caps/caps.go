// Package caps holds Linux capability numbers and sets: one type for the
// namespace package (which applies them) and the seccomp package (whose
// profiles depend on them), re-exported by both.
package caps

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/confinelab/confine/internal"
)

// Cap is one Linux capability (CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40).
type Cap uint

// capNames lists capabilities by number, as in linux/capability.h.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Named capabilities the module uses.
const (
	SetPCAP   Cap = 8
	SysAdmin  Cap = 21
	NetAdmin  Cap = 12
	LastKnown     = Cap(len(capNames) - 1)
)

// String returns the capability's name ("CAP_NET_ADMIN"), or "CAP_N" for
// one newer than this package knows.
func (c Cap) String() string {
	if int(c) < len(capNames) {
		return capNames[c]
	}
	return "CAP_" + strconv.Itoa(int(c))
}

// Parse accepts "CAP_NET_ADMIN", "net_admin" (any case) or a number.
func Parse(s string) (Cap, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	for i, n := range capNames {
		if n == u {
			return Cap(i), nil
		}
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(u, "CAP_")); err == nil && n >= 0 && n < 64 {
		return Cap(n), nil
	}
	return 0, &internal.InvalidError{Pkg: "caps", Field: "Capability", Value: s, Reason: "unknown capability"}
}

// Set is a set of capabilities as the kernel's 64-bit mask.
type Set uint64

// All is every capability this package knows by name.
const All = Set(1<<(LastKnown+1) - 1)

// NewSet returns a set holding caps.
func NewSet(caps ...Cap) Set {
	var s Set
	for _, c := range caps {
		s = s.Add(c)
	}
	return s
}

// ParseSet parses a comma- or space-separated list ("CAP_CHOWN,net_raw");
// "ALL" means All and "" the empty set.
func ParseSet(s string) (Set, error) {
	var set Set
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if strings.EqualFold(f, "ALL") {
			set |= All
			continue
		}
		c, err := Parse(f)
		if err != nil {
			return 0, err
		}
		set = set.Add(c)
	}
	return set, nil
}

// Has reports whether c is in s.
func (s Set) Has(c Cap) bool { return c < 64 && s&(1<<c) != 0 }

// Add returns s with c added (c >= 64 is ignored).
func (s Set) Add(c Cap) Set {
	if c >= 64 {
		return s
	}
	return s | 1<<c
}

// Remove returns s without c.
func (s Set) Remove(c Cap) Set {
	if c >= 64 {
		return s
	}
	return s &^ (1 << c)
}

// List returns the capabilities in s in ascending order.
func (s Set) List() []Cap {
	out := make([]Cap, 0, bits.OnesCount64(uint64(s)))
	for v := uint64(s); v != 0; v &= v - 1 {
		out = append(out, Cap(bits.TrailingZeros64(v)))
	}
	return out
}

// String formats s as "CAP_CHOWN,CAP_NET_RAW" (empty for the empty set).
func (s Set) String() string {
	caps := s.List()
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = c.String()
	}
	return strings.Join(names, ",")
}
