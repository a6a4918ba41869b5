package devfilter

import "fmt"

// Type is a device type as the kernel's device program context encodes it.
type Type uint8

const (
	// TypeAll matches block and character devices ('a').
	TypeAll Type = 0
	// TypeBlock is BPF_DEVCG_DEV_BLOCK ('b').
	TypeBlock Type = 1
	// TypeChar is BPF_DEVCG_DEV_CHAR ('c').
	TypeChar Type = 2
)

// Access is a set of access bits, encoded as BPF_DEVCG_ACC_*.
type Access uint8

const (
	// AccMknod is BPF_DEVCG_ACC_MKNOD ('m').
	AccMknod Access = 1
	// AccRead is BPF_DEVCG_ACC_READ ('r').
	AccRead Access = 2
	// AccWrite is BPF_DEVCG_ACC_WRITE ('w').
	AccWrite Access = 4
	// AccAll is "rwm".
	AccAll = AccMknod | AccRead | AccWrite
)

// Wildcard as Major or Minor matches any number.
const Wildcard int64 = -1

// Largest device numbers the kernel can represent (12-bit major, 20-bit
// minor in dev_t's internal encoding).
const (
	MaxMajor = 1<<12 - 1
	MaxMinor = 1<<20 - 1
)

// Rule allows or denies Access to the devices it matches.
type Rule struct {
	Type   Type
	Major  int64 // Wildcard or 0..MaxMajor
	Minor  int64 // Wildcard or 0..MaxMinor
	Access Access
	Allow  bool
}

// Validate checks one rule; the public cgroup package reports richer errors.
func (r Rule) Validate() error {
	switch {
	case r.Type > TypeChar:
		return fmt.Errorf("device rule: type %d: unknown", r.Type)
	case r.Major != Wildcard && (r.Major < 0 || r.Major > MaxMajor):
		return fmt.Errorf("device rule: major %d: out of range", r.Major)
	case r.Minor != Wildcard && (r.Minor < 0 || r.Minor > MaxMinor):
		return fmt.Errorf("device rule: minor %d: out of range", r.Minor)
	case r.Access == 0 || r.Access&^AccAll != 0:
		return fmt.Errorf("device rule: access %#x: want a non-empty subset of rwm", r.Access)
	}
	return nil
}

func (r Rule) matches(t Type, major, minor uint32) bool {
	return (r.Type == TypeAll || r.Type == t) &&
		(r.Major == Wildcard || r.Major == int64(major)) &&
		(r.Minor == Wildcard || r.Minor == int64(minor))
}

// Evaluate decides a request the way the generated program does: each
// requested access bit is decided by the last matching rule naming it, and
// undecided bits are denied. It is the reference the program is tested
// against; it does not touch the kernel.
func Evaluate(rules []Rule, t Type, major, minor uint32, acc Access) bool {
	for bit := AccMknod; bit <= AccWrite; bit <<= 1 {
		if acc&bit == 0 {
			continue
		}
		allowed := false
		for _, r := range rules {
			if r.Access&bit != 0 && r.matches(t, major, minor) {
				allowed = r.Allow
			}
		}
		if !allowed {
			return false
		}
	}
	return true
}
