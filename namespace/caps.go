package namespace

import "github.com/confinelab/confine/internal/caps"

// Cap is one Linux capability (CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE =
// 40). It is the type seccomp.Target uses too.
type Cap = caps.Cap

// CapSet is a set of capabilities as the kernel's 64-bit mask; it is
// seccomp.CapSet too.
type CapSet = caps.Set

// Named capabilities used by this package.
const (
	CapSetPCAP   = caps.SetPCAP
	CapSysAdmin  = caps.SysAdmin
	CapNetAdmin  = caps.NetAdmin
	CapLastKnown = caps.LastKnown
)

// AllCaps is every capability this package knows by name.
const AllCaps = caps.All

// ParseCap accepts "CAP_NET_ADMIN", "net_admin" (any case) or a number.
func ParseCap(s string) (Cap, error) { return caps.Parse(s) }

// NewCapSet returns a set holding the given capabilities.
func NewCapSet(c ...Cap) CapSet { return caps.NewSet(c...) }

// ParseCapSet parses a comma- or space-separated list ("CAP_CHOWN,net_raw");
// "ALL" means AllCaps and "" the empty set.
func ParseCapSet(s string) (CapSet, error) { return caps.ParseSet(s) }

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
