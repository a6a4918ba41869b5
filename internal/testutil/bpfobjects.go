package testutil

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
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

// ObjectsOf returns the programs progs and the maps they use.
func ObjectsOf(t testing.TB, progs ...ebpf.ProgramID) BPFObjects {
	t.Helper()
	o := BPFObjects{Progs: progs}
	for _, id := range progs {
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
