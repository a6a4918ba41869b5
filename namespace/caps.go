package namespace

import (
	"math/bits"
	"strconv"
	"strings"
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

// Named capabilities used by this package.
const (
	CapSetPCAP   Cap = 8
	CapSysAdmin  Cap = 21
	CapNetAdmin  Cap = 12
	CapLastKnown     = Cap(len(capNames) - 1)
)

// String returns the capability's name ("CAP_NET_ADMIN"), or "CAP_N" for
// one newer than this package knows.
func (c Cap) String() string {
	if int(c) < len(capNames) {
		return capNames[c]
	}
	return "CAP_" + strconv.Itoa(int(c))
}

// ParseCap accepts "CAP_NET_ADMIN", "net_admin" (any case) or a number.
func ParseCap(s string) (Cap, error) {
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
	return 0, &InvalidError{Pkg: "namespace", Field: "Capability", Value: s, Reason: "unknown capability"}
}

// CapSet is a set of capabilities as the kernel's 64-bit mask.
type CapSet uint64

// AllCaps is every capability this package knows by name.
const AllCaps = CapSet(1<<(CapLastKnown+1) - 1)

// NewCapSet returns a set holding caps.
func NewCapSet(caps ...Cap) CapSet {
	var s CapSet
	for _, c := range caps {
		s = s.Add(c)
	}
	return s
}

// ParseCapSet parses a comma- or space-separated list ("CAP_CHOWN,net_raw");
// "ALL" means AllCaps and "" the empty set.
func ParseCapSet(s string) (CapSet, error) {
	var set CapSet
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if strings.EqualFold(f, "ALL") {
			set |= AllCaps
			continue
		}
		c, err := ParseCap(f)
		if err != nil {
			return 0, err
		}
		set = set.Add(c)
	}
	return set, nil
}

// Has reports whether c is in s.
func (s CapSet) Has(c Cap) bool { return c < 64 && s&(1<<c) != 0 }

// Add returns s with c added (c >= 64 is ignored).
func (s CapSet) Add(c Cap) CapSet {
	if c >= 64 {
		return s
	}
	return s | 1<<c
}

// Remove returns s without c.
func (s CapSet) Remove(c Cap) CapSet {
	if c >= 64 {
		return s
	}
	return s &^ (1 << c)
}

// List returns the capabilities in s in ascending order.
func (s CapSet) List() []Cap {
	out := make([]Cap, 0, bits.OnesCount64(uint64(s)))
	for v := uint64(s); v != 0; v &= v - 1 {
		out = append(out, Cap(bits.TrailingZeros64(v)))
	}
	return out
}

// String formats s as "CAP_CHOWN,CAP_NET_RAW" (empty for the empty set).
func (s CapSet) String() string {
	caps := s.List()
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = c.String()
	}
	return strings.Join(names, ",")
}

// Capabilities are the five capability sets the command starts with. The
// kernel's rules on exec apply: for a command running as uid 0 the
// effective and permitted sets become Bounding ∪ Inheritable (∪ Ambient);
// for any other uid they become Ambient. Ambient must be a subset of both
// Permitted and Inheritable.
type Capabilities struct {
	Bounding    CapSet
	Effective   CapSet
	Permitted   CapSet
	Inheritable CapSet
	Ambient     CapSet
}

// OnlyCaps returns Capabilities that drop everything but keep, in every
// set, so that the command has exactly keep whatever its uid.
func OnlyCaps(keep ...Cap) *Capabilities {
	s := NewCapSet(keep...)
	return &Capabilities{Bounding: s, Effective: s, Permitted: s, Inheritable: s, Ambient: s}
}

func (c *Capabilities) validate() error {
	if c.Ambient&^(c.Permitted&c.Inheritable) != 0 {
		return &InvalidError{Pkg: "namespace", Field: "Capabilities.Ambient", Value: c.Ambient.String(),
			Reason: "must be a subset of Permitted and Inheritable"}
	}
	if c.Effective&^c.Permitted != 0 {
		return &InvalidError{Pkg: "namespace", Field: "Capabilities.Effective", Value: c.Effective.String(),
			Reason: "must be a subset of Permitted"}
	}
	return nil
}
