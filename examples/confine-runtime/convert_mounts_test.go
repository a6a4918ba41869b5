package main

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestConvertPropagation: rootfsPropagation and per-mount propagation
// options reach the mount package as they are; a bind's filesystem data
// (which mount(2) ignores with MS_BIND) is dropped with a warning.
func TestConvertPropagation(t *testing.T) {
	s, bundle := testSpec(t)
	s.Linux.RootfsPropagation = "shared"
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1k", "rshared"}},
		specs.Mount{Destination: "/b", Type: "bind", Source: "/etc", Options: []string{"rbind", "rslave", "mode=755", "size=1k"}})
	p, err := convert(s, bundle, "c1")
	if err != nil {
		t.Fatal(err)
	}
	r := p.cmd.Root
	if r.Propagation != "shared" {
		t.Errorf("root propagation %q, want shared", r.Propagation)
	}
	tm, bm := r.Mounts[len(r.Mounts)-2], r.Mounts[len(r.Mounts)-1]
	if !slices.Equal(tm.Options, []string{"nosuid", "size=1k", "rshared"}) {
		t.Errorf("tmpfs options %q", tm.Options)
	}
	if !slices.Contains(bm.Options, "rslave") || slices.ContainsFunc(bm.Options, func(o string) bool { return strings.Contains(o, "=") }) {
		t.Errorf("bind options %q, want rslave kept and the data dropped", bm.Options)
	}
	w := strings.Join(p.warnings, "\n")
	if len(p.warnings) != 2 || !strings.Contains(w, `mounts[8].options: "mode=755" ignored`) || !strings.Contains(w, `"size=1k"`) {
		t.Errorf("warnings %q, want one per dropped option naming the mount", p.warnings)
	}
}
