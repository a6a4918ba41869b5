package main

import (
	"maps"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/namespace"
)

// convertSysctl passes linux.sysctl to the library, which writes the keys
// inside the container's namespaces before its root is built. A key that
// is not namespaced, or whose namespace the container does not get (made
// or joined by path), is refused here naming it; the library checks again
// at create, and refuses a joined namespace that is the runtime's own.
func convertSysctl(s *specs.Spec, p *plan) error {
	for key := range s.Linux.Sysctl {
		k, err := namespace.SysctlKind(key)
		if err != nil {
			return &ConfigError{Field: "linux.sysctl", Value: key, Reason: "not a namespaced sysctl", Err: err}
		}
		if p.cmd.Namespaces.Has(k) || (k != namespace.USER && p.joinsKind(k)) {
			continue
		}
		return &ConfigError{Field: "linux.sysctl", Value: key, Reason: "needs a " + k.String() + " namespace of the container's own in linux.namespaces"}
	}
	p.cmd.Sysctl = maps.Clone(s.Linux.Sysctl)
	return nil
}

// joinsKind reports whether the config joins a namespace of kind k by path.
func (p *plan) joinsKind(k namespace.Kind) bool {
	for _, j := range p.joins {
		if j.kind == k {
			return true
		}
	}
	return false
}
