package seccomp

import "sync"

// bstRoots computes an optimal alphabetic search tree over n leaves (in key
// order) with the given weights: root(i, j) is the leaf index k (i < k <= j)
// where the subtree over leaves i..j splits ("key >= start of k" goes
// right). Knuth's monotonicity bound keeps it O(n^2).
func bstRoots(w []int) (root func(i, j int) int, release func()) {
	n := len(w)
	pre := make([]int32, n+1)
	for i, x := range w {
		pre[i+1] = pre[i] + int32(x)
	}
	// Tables indexed by (span, i) = span*n+i: for one span, consecutive i
	// and their candidate roots touch neighbouring cells, so the loops
	// stream through memory. Every cell is written before it is read, so
	// pooled buffers need no clearing.
	buf := tablePool.Get().(*[]int32)
	if cap(*buf) < 2*n*n {
		*buf = make([]int32, 2*n*n)
	}
	costs, roots := (*buf)[:n*n], (*buf)[n*n:2*n*n]
	for i := 0; i < n; i++ {
		costs[i] = 0 // span 0
	}
	for span := 1; span < n; span++ {
		for i := 0; i+span < n; i++ {
			j := i + span
			lo, hi := i+1, j
			if span > 1 {
				lo, hi = max(int(roots[(span-1)*n+i]), i+1), int(roots[(span-1)*n+i+1])
			}
			best, bk := int32(-1), lo
			for k := lo; k <= hi; k++ {
				// cost(i, k-1) + cost(k, j)
				if c := costs[(k-1-i)*n+i] + costs[(j-k)*n+k]; best < 0 || c < best {
					best, bk = c, k
				}
			}
			costs[span*n+i] = best + pre[j+1] - pre[i]
			roots[span*n+i] = int32(bk)
		}
	}
	return func(i, j int) int { return int(roots[(j-i)*n+i]) }, func() { tablePool.Put(buf) }
}

var tablePool = sync.Pool{New: func() any { return new([]int32) }}
