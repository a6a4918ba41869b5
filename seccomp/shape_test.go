package seccomp

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/confinelab/confine/internal/cbpf"
	"golang.org/x/sys/unix"
)

// randSwitch draws n segments of a word's values, single values and
// ranges, going to one of k RETs (neighbours differ), with weights.
func randSwitch(rnd *rand.Rand, g *graph, n, k int) ([]seg, uint64) {
	var rets []nodeID
	for e := range k {
		rets = append(rets, g.ret(ActErrno(unix.Errno(e+1))))
	}
	segs := make([]seg, 0, n)
	start := uint64(0)
	for len(segs) < n {
		to := rets[rnd.IntN(k)]
		if len(segs) > 0 && segs[len(segs)-1].to == to {
			continue
		}
		segs = append(segs, seg{start: start, to: to, weight: 1 + rnd.IntN(64)})
		start += 1 + uint64(rnd.IntN(2)*rnd.IntN(5))
	}
	return segs, start + uint64(rnd.IntN(2))
}

// measure runs every value of segs through the switch's node, checks it
// reaches its segment's RET, and returns lambda*tests + weighted tests
// executed, counted on the graph.
func measure(t *testing.T, g *graph, root nodeID, segs []seg, end uint64, lambda int) int64 {
	t.Helper()
	tests := 0
	for id := range g.entries(root) {
		if g.nodes[id].op != cbpf.RetK {
			tests++
		}
	}
	cost := int64(lambda * tests)
	overhead := 2 // the load and the RET are not tests
	if g.nodes[root].op == cbpf.RetK {
		overhead = 1
	}
	for i, s := range segs {
		next := end
		if i+1 < len(segs) {
			next = segs[i+1].start
		}
		for x := s.start; x < next; x++ {
			ret, n := g.run(root, &cbpf.SeccompData{Nr: int32(x)})
			if ret != g.nodes[s.to].k {
				t.Fatalf("value %d: RET %#x, want %#x (segments %+v)", x, ret, g.nodes[s.to].k, segs)
			}
			if x == s.start {
				cost += int64(s.weight) * int64(n-overhead)
			}
		}
	}
	return cost
}

// bruteCost is the cheapest tree over segs[i..j] found by trying every
// split and every leaf (any fallback target, any order of JEQs).
func bruteCost(segs []seg, point []bool, i, j int, lambda int64) int64 {
	w := int64(0)
	for k := i; k <= j; k++ {
		w += int64(segs[k].weight)
	}
	if i == j {
		return 0
	}
	best := int64(1 << 62)
	for k := i + 1; k <= j; k++ {
		best = min(best, bruteCost(segs, point, i, k-1, lambda)+bruteCost(segs, point, k, j, lambda)+lambda+w)
	}
	for b := i; b <= j; b++ {
		var peeled []int
		bgWeight, ok := int64(0), true
		for k := i; k <= j; k++ {
			switch {
			case segs[k].to == segs[b].to:
				bgWeight += int64(segs[k].weight)
			case !point[k]:
				ok = false
			default:
				peeled = append(peeled, k)
			}
		}
		if !ok || len(peeled) > maxPeel {
			continue
		}
		forEachPermutation(peeled, func(order []int) {
			c := lambda*int64(len(order)) + int64(len(order))*bgWeight
			for r, k := range order {
				c += int64(r+1) * int64(segs[k].weight)
			}
			best = min(best, c)
		})
	}
	return best
}

func forEachPermutation(xs []int, f func([]int)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(xs) {
			f(xs)
			return
		}
		for i := k; i < len(xs); i++ {
			xs[k], xs[i] = xs[i], xs[k]
			rec(k + 1)
			xs[k], xs[i] = xs[i], xs[k]
		}
	}
	rec(0)
}

// TestSwitchShapeOptimal: the switch decides every value as its segment
// says, its real cost (tests counted on the graph) is what the dynamic
// program claims, and no tree of splits and JEQ leaves is cheaper (at
// these sizes, up to exactSpan, the program tries every split).
func TestSwitchShapeOptimal(t *testing.T) {
	rnd := rand.New(rand.NewPCG(15, 1))
	for round := range 300 {
		g := newGraph()
		segs, end := randSwitch(rnd, g, 1+rnd.IntN(7), 2+rnd.IntN(3))
		lambda := []int{0, 1, 16, 64, 1000}[round%5]
		s := newShaper(segs, end, lambda)
		root := g.switchOn(nrWord, segs, end, shapeParams{lambda: lambda, maxDP: 8})
		claimed := s.cost(0, len(segs)-1)
		if got := measure(t, g, root, segs, end, lambda); got != claimed {
			t.Fatalf("segments %+v lambda %d: tree costs %d, the program claimed %d", segs, lambda, got, claimed)
		}
		if brute := bruteCost(segs, s.point, 0, len(segs)-1, int64(lambda)); brute != claimed {
			t.Fatalf("segments %+v lambda %d: optimum %d, the program found %d", segs, lambda, brute, claimed)
		}
	}
}

// TestSwitchLargeIsSplit: switches beyond the dynamic program's bound are
// split at their weighted median first, spans beyond exactSpan try only
// the splits Knuth's bound leaves, and every value is still decided as
// its segment says.
func TestSwitchLargeIsSplit(t *testing.T) {
	rnd := rand.New(rand.NewPCG(15, 2))
	g := newGraph()
	p := shapeParams{lambda: 4, maxDP: 40}
	segs, end := randSwitch(rnd, g, 3*p.maxDP+7, 4)
	root := g.switchOn(nrWord, segs, end, p)
	measure(t, g, root, segs, end, p.lambda)
}

func TestMergeSegsKeepsWeights(t *testing.T) {
	got := mergeSegs([]seg{{0, 1, 2}, {5, 1, 3}, {7, 2, 1}, {9, 1, 1}})
	want := []seg{{0, 1, 5}, {7, 2, 1}, {9, 1, 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
