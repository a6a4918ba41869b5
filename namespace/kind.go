package namespace

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind is one type of Linux namespace.
type Kind int

// The namespace kinds. The zero Kind is invalid.
const (
	PID Kind = iota + 1
	NET
	IPC
	MNT
	UTS
	USER
	CGROUP
	TIME
)

// allKinds lists every kind in the order setns should join them: user first
// (it grants the capabilities for the rest), mount last but one so paths
// used by the others still resolve, pid and time only affect children.
var allKinds = []Kind{USER, CGROUP, IPC, UTS, NET, PID, TIME, MNT}

var kindInfo = map[Kind]struct {
	flag uintptr
	proc string // name under /proc/PID/ns
	name string
}{
	PID:    {unix.CLONE_NEWPID, "pid", "PID"},
	NET:    {unix.CLONE_NEWNET, "net", "NET"},
	IPC:    {unix.CLONE_NEWIPC, "ipc", "IPC"},
	MNT:    {unix.CLONE_NEWNS, "mnt", "MNT"},
	UTS:    {unix.CLONE_NEWUTS, "uts", "UTS"},
	USER:   {unix.CLONE_NEWUSER, "user", "USER"},
	CGROUP: {unix.CLONE_NEWCGROUP, "cgroup", "CGROUP"},
	TIME:   {unix.CLONE_NEWTIME, "time", "TIME"},
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { _, ok := kindInfo[k]; return ok }

// CloneFlag returns the CLONE_NEW* flag of k, or 0 for an invalid kind.
func (k Kind) CloneFlag() uintptr { return kindInfo[k].flag }

// ProcName returns k's file name under /proc/PID/ns ("net", "mnt", ...).
// PID and TIME name the namespace of the process itself, not the one its
// children get (pid_for_children, time_for_children).
func (k Kind) ProcName() string { return kindInfo[k].proc }

// String returns the upper-case name ("NET"), or "Kind(N)".
func (k Kind) String() string {
	if i, ok := kindInfo[k]; ok {
		return i.name
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind accepts a kind by its name ("NET", "net") or /proc name ("mnt").
func ParseKind(s string) (Kind, error) {
	for k, i := range kindInfo {
		if strings.EqualFold(s, i.name) || s == i.proc {
			return k, nil
		}
	}
	return 0, &InvalidError{Pkg: "namespace", Field: "Kind", Value: s, Reason: "unknown namespace kind"}
}

// kindFromNSType maps the CLONE_NEW* value NS_GET_NSTYPE returns to a Kind.
func kindFromNSType(t uintptr) (Kind, bool) {
	for k, i := range kindInfo {
		if i.flag == t {
			return k, true
		}
	}
	return 0, false
}

// Set is a set of namespace kinds, e.g. Set{PID, NET}.
type Set []Kind

// Has reports whether k is in s.
func (s Set) Has(k Kind) bool {
	for _, x := range s {
		if x == k {
			return true
		}
	}
	return false
}

// CloneFlags returns the union of the CLONE_NEW* flags of s.
func (s Set) CloneFlags() uintptr {
	var f uintptr
	for _, k := range s {
		f |= k.CloneFlag()
	}
	return f
}

// Validate returns an *InvalidError for the first invalid or repeated kind.
func (s Set) Validate() error {
	for i, k := range s {
		if !k.Valid() {
			return &InvalidError{Pkg: "namespace", Field: "Namespaces", Value: k.String(), Reason: "unknown namespace kind"}
		}
		if Set(s[:i]).Has(k) {
			return &InvalidError{Pkg: "namespace", Field: "Namespaces", Value: k.String(), Reason: "listed twice"}
		}
	}
	return nil
}

// String formats s as "PID,NET".
func (s Set) String() string {
	names := make([]string, len(s))
	for i, k := range s {
		names[i] = k.String()
	}
	return strings.Join(names, ",")
}

// All returns a Set with every kind.
func All() Set { return append(Set(nil), allKinds...) }
