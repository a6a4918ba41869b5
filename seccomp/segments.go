package seccomp

import "github.com/confinelab/confine/internal/syscalls"

// abiSegments splits [base, end) into ranges of equal decision for abi.
func abiSegments(r *Resolved, abi syscalls.Arch, base, end uint64, w int) []segment {
	rules := r.Rules[abi]
	newest := uint64(syscalls.Newest(abi))
	enosys := r.Default.Kind != Allow
	segs := make([]segment, 0, 64)
	add := func(start uint64, l leaf, weight int) {
		// Merge as we go: most numbers share the default or allow.
		if n := len(segs); n > 0 && mergeable(segs[n-1].leaf, l) {
			segs[n-1].weight += weight
			return
		}
		segs = append(segs, segment{start: start, leaf: l, weight: weight})
	}
	fill := func(from, to uint64) { // numbers in [from, to) without rules
		for from < to {
			upTo, act := to, r.Default
			if enosys && from > newest {
				act = ActENOSYS
			} else if enosys && newest+1 < to {
				upTo = newest + 1
			}
			add(from, leaf{act: act}, weightEmpty)
			from = upTo
		}
	}
	next := base
	table := syscalls.Table(abi)
	ti := 0
	for i := 0; i < len(rules); {
		nr := uint64(rules[i].Nr)
		j := i
		for j < len(rules) && uint64(rules[j].Nr) == nr {
			j++
		}
		ti = fillKnown(table, ti, next, nr, fill, add, r.Default, w)
		if len(rules[i].Conds) == 0 { // unconditional: the rest is shadowed
			add(nr, leaf{act: rules[i].Action}, w)
		} else {
			add(nr, leaf{act: r.Default, rules: rules[i:j], args32: is32(abi)}, w)
		}
		next, i = nr+1, j
	}
	fillKnown(table, ti, next, end, fill, add, r.Default, w)
	return segs
}

// fillKnown covers [from, to) where no rules exist: known syscalls get the
// default action (and their weight), gaps go through fill. It returns the
// table position after to.
func fillKnown(table []syscalls.Entry, ti int, from, to uint64, fill func(uint64, uint64), add func(uint64, leaf, int), def Action, w int) int {
	for ti < len(table) && uint64(table[ti].Nr) < from {
		ti++
	}
	for ; ti < len(table) && uint64(table[ti].Nr) < to; ti++ {
		nr := uint64(table[ti].Nr)
		fill(from, nr)
		add(nr, leaf{act: def}, w)
		from = nr + 1
	}
	fill(from, to)
	return ti
}

// mergeable reports whether two neighbouring leaves decide the same way
// without looking at arguments.
func mergeable(a, b leaf) bool {
	return a.rules == nil && b.rules == nil && a.act == b.act
}
