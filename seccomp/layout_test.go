package seccomp

import (
	"math/rand/v2"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"golang.org/x/sys/unix"
)

// farGraph is a switch on the syscall number over many segments, long
// enough that most targets are out of a conditional jump's reach, going
// to RETs and to argument tests shared by many segments (one of them
// masked), with numbers from 1000 up first masked to their low 9 or 10
// bits and sent through the same switch.
func farGraph(rnd *rand.Rand) (*graph, nodeID, uint64) {
	g := newGraph()
	var rets []nodeID
	for e := range 4 {
		rets = append(rets, g.ret(ActErrno(unix.Errno(e+1))))
	}
	targets := append(rets,
		g.jump(cbpf.JeqK, argWord(0, false, fullMask), 7, rets[0], rets[1], 0.5),
		g.jump(cbpf.JeqK, argWord(1, false, 0xff), 7, rets[2], rets[0], 0.5),
		g.jump(cbpf.JgeK, argWord(1, false, fullMask), 9, rets[3], rets[1], 0.5),
		g.jump(cbpf.JgeK, argWord(0, true, fullMask), 1, rets[2], g.jump(cbpf.JeqK, argWord(0, false, fullMask), 3, rets[3], rets[0], 0.5), 0.5))
	var segs []seg
	for nr := uint64(0); nr < 1000; nr++ {
		to := targets[rnd.IntN(len(targets))]
		if len(segs) == 0 || segs[len(segs)-1].to != to {
			segs = append(segs, seg{start: nr, to: to, weight: 1 + rnd.IntN(8)})
		}
	}
	sw := g.switchOn(nrWord, segs, 1000, nrShape)
	// Two ANDs falling through to one switch: one of them cannot be
	// right in front of it.
	masked := g.jump(cbpf.JgeK, nrWord, 1500, g.and(nrWord, 0x1ff, sw), g.and(nrWord, 0x3ff, sw), 0.5)
	root := g.jump(cbpf.JgeK, nrWord, 1000, masked, sw, 0.5)
	return g, root, 2048
}

// TestLayoutFarTargets lays out a graph whose targets lie beyond 255
// instructions and checks the program decides every number and argument
// set as the graph does, with RET copies and JAs where needed.
func TestLayoutFarTargets(t *testing.T) {
	for seed := range uint64(6) {
		layoutFarTargets(t, rand.New(rand.NewPCG(15, 3+seed)))
	}
}

func layoutFarTargets(t *testing.T, rnd *rand.Rand) {
	t.Helper()
	g, root, end := farGraph(rnd)
	prog := g.layout(root)
	if err := cbpf.Validate(prog); err != nil {
		t.Fatal(err)
	}
	var ja, rets int
	for _, ins := range prog {
		switch ins.Code {
		case cbpf.Ja:
			ja++
		case cbpf.RetK:
			rets++
		}
	}
	if len(prog) < 2*maxJump || ja == 0 || rets <= 4 {
		t.Fatalf("%d instructions, %d JAs, %d RETs: not the far layout this test needs", len(prog), ja, rets)
	}
	args := [][6]uint64{{}, {7, 7}, {7, 0x107}, {3, 9}, {1<<32 | 3, 6}, {3, 0x1_0000_0007}}
	for nr := range end {
		for _, a := range args {
			d := &cbpf.SeccompData{Nr: int32(nr), Args: a}
			want, tests := g.run(root, d)
			got, executed := cbpf.Exec(prog, d)
			if got != want {
				t.Fatalf("nr %d args %#x: program %#x, graph %#x", nr, a[:2], got, want)
			}
			if executed < tests || executed > tests+4 {
				t.Fatalf("nr %d args %#x: %d instructions executed, graph path %d", nr, a[:2], executed, tests)
			}
		}
	}
	t.Logf("%d instructions (%d JAs, %d RETs) for %d graph nodes", len(prog), ja, rets, len(g.entries(root)))
}
