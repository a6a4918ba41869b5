package seccomp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/confinelab/confine/internal"
)

// Profile is a seccomp profile in the Docker/OCI JSON format
// (github.com/moby/profiles/seccomp). Decode one with Parse.
type Profile struct {
	DefaultAction   string    `json:"defaultAction"`
	DefaultErrnoRet *uint     `json:"defaultErrnoRet,omitempty"`
	Architectures   []string  `json:"architectures,omitempty"`
	ArchMap         []ArchMap `json:"archMap,omitempty"`
	Syscalls        []Syscall `json:"syscalls,omitempty"`
	Flags           []string  `json:"flags,omitempty"`
}

// ArchMap names a native architecture and the sub-architectures (other
// ABIs) a filter for it also covers.
type ArchMap struct {
	Arch      string   `json:"architecture"`
	SubArches []string `json:"subArchitectures"`
}

// Syscall is a group of rules: the syscalls Names get Action when every
// Arg matches and the group applies to the target (Includes/Excludes).
type Syscall struct {
	Name     string   `json:"name,omitempty"` // legacy single name
	Names    []string `json:"names,omitempty"`
	Action   string   `json:"action"`
	ErrnoRet *uint    `json:"errnoRet,omitempty"`
	Args     []Arg    `json:"args,omitempty"`
	Comment  string   `json:"comment,omitempty"`
	Includes *Filter  `json:"includes,omitempty"`
	Excludes *Filter  `json:"excludes,omitempty"`
}

// Arg compares the syscall argument Index (0..5) with Value; MASKED_EQ
// compares arg&Value with ValueTwo. Comparisons are unsigned 64-bit.
type Arg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// Filter restricts a group to architectures (Go or SCMP names), to callers
// holding all Caps, and to kernels at least MinKernel.
type Filter struct {
	Arches    []string `json:"arches,omitempty"`
	Caps      []string `json:"caps,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// Comparison operators of the JSON format.
const (
	OpNE       = "SCMP_CMP_NE"
	OpLT       = "SCMP_CMP_LT"
	OpLE       = "SCMP_CMP_LE"
	OpEQ       = "SCMP_CMP_EQ"
	OpGE       = "SCMP_CMP_GE"
	OpGT       = "SCMP_CMP_GT"
	OpMaskedEQ = "SCMP_CMP_MASKED_EQ"
)

// InvalidError reports invalid input: a profile field (Field
// "defaultAction", or "syscalls[3].args[0].op" for a field of the fourth
// group), a Target or LoadOptions field, a notification Response; with
// the value and why. It is the one invalid-input type of every confine
// package.
type InvalidError = internal.InvalidError

// invalid reports bad input outside a profile.
func invalid(field string, value any, reason string) error {
	return &InvalidError{Pkg: "seccomp", Field: field, Value: value, Reason: reason}
}

// profileErr reports a bad profile field; group is the index in Syscalls,
// or -1 for a top-level field.
func profileErr(group int, field string, value any, reason string) error {
	if group >= 0 {
		field = "syscalls[" + strconv.Itoa(group) + "]." + field
	}
	return invalid(field, value, reason)
}

// Parse decodes and validates a JSON profile. Unknown fields are ignored,
// as Docker does.
func Parse(data []byte) (*Profile, error) {
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("seccomp: decoding profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Read is Parse for a reader.
func Read(r io.Reader) (*Profile, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("seccomp: reading profile: %w", err)
	}
	return Parse(data)
}

// Validate checks every field that does not depend on the target: actions,
// errno values, operators, argument indexes, names, kernel versions.
func (p *Profile) Validate() error {
	if _, why := parseAction(p.DefaultAction, p.DefaultErrnoRet); why != "" {
		return profileErr(-1, "defaultAction", p.DefaultAction, why)
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return profileErr(-1, "architectures", fmt.Sprint(p.Architectures), "cannot be combined with archMap")
	}
	for _, f := range p.Flags {
		if _, ok := flagNames[f]; !ok {
			return profileErr(-1, "flags", f, "unknown flag")
		}
	}
	for i := range p.Syscalls {
		if err := p.Syscalls[i].validate(i); err != nil {
			return err
		}
	}
	return nil
}

func (s *Syscall) validate(i int) error {
	if len(s.Names) == 0 && s.Name == "" {
		return profileErr(i, "names", "[]", "no syscall names")
	}
	for _, n := range s.Names {
		if n == "" {
			return profileErr(i, "names", `""`, "empty syscall name")
		}
	}
	if _, why := parseAction(s.Action, s.ErrnoRet); why != "" {
		return profileErr(i, "action", s.Action, why)
	}
	if len(s.Args) > 6 {
		return profileErr(i, "args", fmt.Sprint(len(s.Args)), "at most 6 argument conditions")
	}
	for j, a := range s.Args {
		field := fmt.Sprintf("args[%d]", j)
		if a.Index > 5 {
			return profileErr(i, field+".index", fmt.Sprint(a.Index), "must be 0..5")
		}
		if _, ok := opNames[a.Op]; !ok {
			return profileErr(i, field+".op", a.Op, "unknown operator")
		}
	}
	for _, f := range []struct {
		name string
		f    *Filter
	}{{"includes", s.Includes}, {"excludes", s.Excludes}} {
		if f.f != nil && f.f.MinKernel != "" {
			if _, err := internal.ParseVersion(f.f.MinKernel); err != nil {
				return profileErr(i, f.name+".minKernel", f.f.MinKernel, "not a kernel version")
			}
		}
	}
	return nil
}

// names returns the group's syscall names (the legacy Name included).
func (s *Syscall) names() []string {
	if s.Name == "" {
		return s.Names
	}
	return append([]string{s.Name}, s.Names...)
}
