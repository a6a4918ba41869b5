package testutil

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/confinelab/confine/internal/bwprog"
)

// BPFObjects are the kernel ids of programs and maps a test expects the
// kernel to free (a limiter's, a device filter's).
type BPFObjects struct {
	Progs []ebpf.ProgramID
	Maps  []ebpf.MapID
}

// Left lists the objects of o the kernel still has ("program 12", "map
// 34"): an id that no longer resolves was freed.
func (o BPFObjects) Left() []string {
	var left []string
	for _, id := range o.Progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			left = append(left, fmt.Sprintf("program %d", id))
		}
	}
	for _, id := range o.Maps {
		if m, err := ebpf.NewMapFromID(id); err == nil {
			m.Close()
			left = append(left, fmt.Sprintf("map %d", id))
		}
	}
	return left
}

// LimiterObjects returns the programs of the bandwidth limiter pinned in
// dir (egress, ingress, pacing, in that order) and the maps they use.
func LimiterObjects(t testing.TB, dir string) BPFObjects {
	t.Helper()
	l, err := bwprog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ids, err := l.ProgramIDs()
	if err != nil {
		t.Fatal(err)
	}
	pace, err := l.PacingID()
	if err != nil {
		t.Fatal(err)
	}
	o := BPFObjects{Progs: []ebpf.ProgramID{ids[bwprog.Egress], ids[bwprog.Ingress], pace}}
	for _, id := range o.Progs {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		maps, _ := info.MapIDs()
		for _, m := range maps {
			if !slices.Contains(o.Maps, m) {
				o.Maps = append(o.Maps, m)
			}
		}
	}
	return o
}
