package seccomp

import "testing"

// TestBSTRootsOptimal compares the Knuth-bounded search with the plain
// O(n^3) recurrence on small weight vectors.
func TestBSTRootsOptimal(t *testing.T) {
	for seed := 1; seed < 200; seed++ {
		n := 1 + seed%13
		w := make([]int, n)
		for i := range w {
			w[i] = (seed*7 + i*i*31) % 17
		}
		root, release := bstRoots(w)
		var depthCost func(i, j, d int) int
		depthCost = func(i, j, d int) int {
			if i == j {
				return w[i] * d
			}
			k := root(i, j)
			if k <= i || k > j {
				t.Fatalf("root(%d,%d) = %d", i, j, k)
			}
			return depthCost(i, k-1, d+1) + depthCost(k, j, d+1)
		}
		got := depthCost(0, n-1, 0)
		release()
		if want := bruteCost(w); got != want {
			t.Fatalf("weights %v: cost %d, optimum %d", w, got, want)
		}
	}
}

func bruteCost(w []int) int {
	n := len(w)
	memo := map[[2]int]int{}
	var c func(i, j int) int
	c = func(i, j int) int {
		if i == j {
			return 0
		}
		if v, ok := memo[[2]int{i, j}]; ok {
			return v
		}
		sum := 0
		for x := i; x <= j; x++ {
			sum += w[x]
		}
		best := -1
		for k := i + 1; k <= j; k++ {
			if v := c(i, k-1) + c(k, j); best < 0 || v < best {
				best = v
			}
		}
		memo[[2]int{i, j}] = best + sum
		return best + sum
	}
	return c(0, n-1)
}

func BenchmarkBSTRoots163(b *testing.B) {
	w := make([]int, 163)
	for i := range w {
		w[i] = 1 + (i*37)%64
	}
	for b.Loop() {
		_, release := bstRoots(w)
		release()
	}
}
