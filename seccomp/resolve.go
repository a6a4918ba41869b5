package seccomp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/caps"
	"github.com/confinelab/confine/internal/syscalls"
)

// Target says what a profile is resolved for.
type Target struct {
	// Arch is the native architecture as a Go name. Empty means "amd64",
	// the only one supported.
	Arch string
	// Caps are the capabilities the sandboxed process keeps (the type
	// namespace.Capabilities uses). Groups whose includes.caps are not all
	// held are dropped, as are groups whose excludes.caps contain a held
	// one; a profile names them as Docker does ("CAP_SYS_ADMIN", any case).
	Caps CapSet
	// Kernel is the kernel version compared with minKernel ("5.8"). Empty
	// means the running kernel.
	Kernel string
}

// CapSet is a set of capabilities; it is namespace.CapSet too.
type CapSet = caps.Set

// DefaultCaps is Docker's default capability set: CAP_CHOWN,
// CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID,
// CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW,
// CAP_SYS_CHROOT, CAP_MKNOD, CAP_AUDIT_WRITE and CAP_SETFCAP.
const DefaultCaps CapSet = 1<<0 | 1<<1 | 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 |
	1<<10 | 1<<13 | 1<<18 | 1<<27 | 1<<29 | 1<<31

// Resolved is a profile resolved for one target: the rules of every ABI
// the filter accepts. Build one with Resolve; Evaluate is its reference
// semantics, which compiled filters reproduce.
type Resolved struct {
	Default Action
	// Arches are the accepted ABIs, native first. Any other ABI is killed.
	Arches []ABI
	// Rules per ABI, sorted by syscall number; rules for one number keep
	// profile order, and the first matching one decides. Evaluate relies
	// on the order; Compile sorts hand-built rules itself.
	Rules map[ABI][]Rule
}

// Warning names a syscall of a group that none of the accepted ABIs knows;
// its rules were skipped.
type Warning struct {
	Group int
	Name  string
}

func (w Warning) String() string {
	return fmt.Sprintf("syscalls[%d]: unknown syscall %q skipped", w.Group, w.Name)
}

var scmpArch = map[string]syscalls.Arch{
	"SCMP_ARCH_X86_64": syscalls.X86_64, "SCMP_ARCH_X86": syscalls.I386, "SCMP_ARCH_X32": syscalls.X32,
}

// goArchNames maps include/exclude arch names (Go style, as Docker uses).
var goArchNames = map[string]string{"amd64": "SCMP_ARCH_X86_64", "x86": "SCMP_ARCH_X86", "386": "SCMP_ARCH_X86", "x32": "SCMP_ARCH_X32"}

// Resolve applies includes/excludes for t, maps names to numbers for every
// accepted ABI and checks for conflicting duplicates. Names no accepted ABI
// knows are skipped and returned as warnings.
//
// Rules mean what runc makes of them through libseccomp: a group whose
// action is the default action is dropped; a group with two conditions on
// one argument becomes one rule per condition (any of them matches), as
// runc splits it; an unconditional rule for a syscall overrides every
// conditional one, whatever their order, and the first unconditional
// rule wins; on i386 a rule on a socket or IPC call applies to its
// socketcall/ipc form too (see multiplex.go); on i386 and x32 condition
// values are cut to 32 bits.
func Resolve(p *Profile, t Target) (*Resolved, []Warning, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if t.Arch != "" && t.Arch != "amd64" {
		return nil, nil, &internal.UnsupportedError{Feature: "seccomp for " + t.Arch, Reason: "only amd64 syscall tables are built in"}
	}
	kv, err := targetKernel(t.Kernel)
	if err != nil {
		return nil, nil, err
	}
	def, _ := parseAction(p.DefaultAction, p.DefaultErrnoRet)
	r := &Resolved{Default: def, Arches: resolveArches(p), Rules: map[syscalls.Arch][]Rule{}}
	held := t.Caps
	var warns []Warning
	for gi := range p.Syscalls {
		g := &p.Syscalls[gi]
		if !applies(g, held, kv) {
			continue
		}
		act, _ := parseAction(g.Action, g.ErrnoRet)
		if act == def {
			continue // runc drops these (libseccomp refuses them)
		}
		sets := condSets(g.Args)
		for _, name := range g.names() {
			known := false
			for _, abi := range r.Arches {
				if nr, ok := syscalls.Lookup(abi, name); ok {
					known = true
					for _, conds := range sets {
						r.Rules[abi] = append(r.Rules[abi], Rule{Nr: nr, Name: name, Action: act, Conds: conds, Group: gi})
					}
				}
				if abi != syscalls.I386 {
					continue
				}
				for _, conds := range sets {
					if m, ok := muxRule(name, act, conds, gi); ok {
						known = true
						r.Rules[abi] = append(r.Rules[abi], m)
					}
				}
			}
			if !known {
				warns = append(warns, Warning{Group: gi, Name: name})
			}
		}
	}
	for abi, rules := range r.Rules {
		if is32(abi) {
			rules = lowRules(rules)
		}
		rules = unconditionalWins(sortByNr(rules))
		if err := checkConflicts(rules); err != nil {
			return nil, nil, err
		}
		r.Rules[abi] = dropShadowed(rules)
	}
	return r, warns, nil
}

func targetKernel(s string) (internal.Version, error) {
	if s == "" {
		v, err := internal.KernelVersion()
		if err != nil {
			return v, fmt.Errorf("seccomp: reading kernel version: %w", err)
		}
		return v, nil
	}
	v, err := internal.ParseVersion(s)
	if err != nil {
		return v, invalid("Target.Kernel", s, "not a kernel version")
	}
	return v, nil
}

func resolveArches(p *Profile) []syscalls.Arch {
	arches := []syscalls.Arch{syscalls.X86_64}
	add := func(name string) {
		if a, ok := scmpArch[name]; ok && !slices.Contains(arches, a) {
			arches = append(arches, a)
		}
	}
	for _, m := range p.ArchMap {
		if m.Arch == "SCMP_ARCH_X86_64" {
			for _, s := range m.SubArches {
				add(s)
			}
		}
	}
	for _, a := range p.Architectures {
		add(a)
	}
	return arches
}

// holds reports whether set holds the capability a profile names: Docker
// compares the names as written ("CAP_SYS_ADMIN"); any case is accepted,
// as before, but not a name without the CAP_ prefix or an unknown one.
func holds(set CapSet, name string) bool {
	if !strings.HasPrefix(strings.ToUpper(name), "CAP_") {
		return false
	}
	c, err := caps.Parse(name)
	return err == nil && set.Has(c)
}

func archMatches(list []string) bool {
	for _, a := range list {
		if a == "amd64" || a == "SCMP_ARCH_X86_64" || goArchNames[a] == "SCMP_ARCH_X86_64" {
			return true
		}
	}
	return false
}

// applies follows Docker: arches are matched against the native
// architecture; the group's rules then go to every accepted ABI.
func applies(g *Syscall, held CapSet, kv internal.Version) bool {
	if ex := g.Excludes; ex != nil {
		if len(ex.Arches) > 0 && archMatches(ex.Arches) {
			return false
		}
		for _, c := range ex.Caps {
			if holds(held, c) {
				return false
			}
		}
		if ex.MinKernel != "" {
			if v, _ := internal.ParseVersion(ex.MinKernel); !kv.Less(v) {
				return false
			}
		}
	}
	if in := g.Includes; in != nil {
		if len(in.Arches) > 0 && !archMatches(in.Arches) {
			return false
		}
		for _, c := range in.Caps {
			if !holds(held, c) {
				return false
			}
		}
		if in.MinKernel != "" {
			if v, _ := internal.ParseVersion(in.MinKernel); kv.Less(v) {
				return false
			}
		}
	}
	return true
}

// condSets returns the rules a group's conditions make: one rule with all
// of them, or, when two conditions test one argument, one rule per
// condition. runc splits such groups that way (libseccomp rejects a rule
// that tests an argument twice), so any one condition suffices.
func condSets(args []Arg) [][]Cond {
	conds := make([]Cond, len(args))
	var seen [6]bool
	split := false
	for j, a := range args {
		conds[j] = Cond{Index: int(a.Index), Op: opNames[a.Op], Value: a.Value, ValueTwo: a.ValueTwo}
		split = split || seen[a.Index]
		seen[a.Index] = true
	}
	if !split {
		return [][]Cond{conds}
	}
	sets := make([][]Cond, len(conds))
	for j := range conds {
		sets[j] = conds[j : j+1 : j+1]
	}
	return sets
}

// unconditionalWins keeps, for a syscall with an unconditional rule, only
// the first such rule: libseccomp lets an unconditional rule replace the
// conditional ones of its syscall and ignores any rule added after it.
func unconditionalWins(rules []Rule) []Rule {
	out := rules[:0]
	for i := 0; i < len(rules); {
		j := i
		for j < len(rules) && rules[j].Nr == rules[i].Nr {
			j++
		}
		k := slices.IndexFunc(rules[i:j], func(r Rule) bool { return len(r.Conds) == 0 })
		if k >= 0 {
			out = append(out, rules[i+k])
		} else {
			out = append(out, rules[i:j]...)
		}
		i = j
	}
	return out
}

func sameConds(a, b []Cond) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 1 {
		return a[0] == b[0]
	}
	as, bs := slices.Clone(a), slices.Clone(b)
	cmp := func(x, y Cond) int {
		switch {
		case x.Index != y.Index:
			return x.Index - y.Index
		case x.Op != y.Op:
			return int(x.Op) - int(y.Op)
		case x.Value != y.Value:
			return cmpU64(x.Value, y.Value)
		}
		return cmpU64(x.ValueTwo, y.ValueTwo)
	}
	slices.SortFunc(as, cmp)
	slices.SortFunc(bs, cmp)
	return slices.Equal(as, bs)
}

// sortByNr sorts stably by syscall number, moving small keys rather than
// the rules themselves.
func sortByNr(rules []Rule) []Rule {
	type key struct{ nr, i uint32 }
	keys := make([]key, len(rules))
	for i, r := range rules {
		keys[i] = key{r.Nr, uint32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmpU64(uint64(a.nr)<<32|uint64(a.i), uint64(b.nr)<<32|uint64(b.i)) })
	out := make([]Rule, len(rules))
	for i, k := range keys {
		out[i] = rules[k.i]
	}
	return out
}

func cmpU64(a, b uint64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// checkConflicts rejects two rules for one syscall with the same
// conditions and different actions: which one wins would be a guess.
func checkConflicts(rules []Rule) error {
	for i := 0; i < len(rules); i++ {
		for j := i + 1; j < len(rules) && rules[j].Nr == rules[i].Nr; j++ {
			if rules[i].Action != rules[j].Action && sameConds(rules[i].Conds, rules[j].Conds) {
				return profileErr(rules[j].Group, "names", rules[j].Name,
					fmt.Sprintf("conflicts with syscalls[%d]: same arguments, action %v vs %v", rules[i].Group, rules[i].Action, rules[j].Action))
			}
		}
	}
	return nil
}

// dropShadowed removes rules after an unconditional rule for the same
// syscall and exact duplicates: first match wins, so they can never decide.
func dropShadowed(rules []Rule) []Rule {
	out := rules[:0]
	for i, r := range rules {
		shadowed := false
		for j := i - 1; j >= 0 && rules[j].Nr == r.Nr; j-- {
			if len(rules[j].Conds) == 0 || (rules[j].Action == r.Action && sameConds(rules[j].Conds, r.Conds)) {
				shadowed = true
				break
			}
		}
		if !shadowed {
			out = append(out, r)
		}
	}
	return out
}
