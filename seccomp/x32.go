package seccomp

import (
	"math"
	"slices"
	"sort"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"golang.org/x/sys/unix"
)

// x32 syscall numbers are the native ones with bit 30 set, for all but a
// few dozen calls, and profiles name the same calls for both ABIs: the x32
// dispatch can often be the native one, after masking the bit off, with
// the numbers that decide otherwise tested first. That is smaller, and
// costs x32 calls (an ABI few kernels still enable) more tests.

// x32Mode says how x32 syscalls are dispatched.
type x32Mode uint8

const (
	x32Auto   x32Mode = iota // the cheaper of the two, by cost
	x32Own                   // a dispatch of their own
	x32Shared                // through the native dispatch
)

// x86_64 returns the dispatch of the x86_64 architecture: native syscall
// numbers, and x32 ones (0x40000000 and above) when accepted, else kill.
func (c *compiler) x86_64(kill nodeID) nodeID {
	native := c.segs(syscalls.X86_64, 0, syscalls.X32Bit, weightNative)
	x32 := seg{start: syscalls.X32Bit, to: kill, weight: weightEmpty}
	if !slices.Contains(c.r.Arches, syscalls.X32) {
		return c.g.switchOn(nrWord, append(native, x32), math.MaxUint32+1, nrShape)
	}
	segs32 := c.segs(syscalls.X32, syscalls.X32Bit, math.MaxUint32+1, weightX32)
	x32.to = c.g.switchOn(nrWord, segs32, math.MaxUint32+1, nrShape)
	x32.weight = totalWeight(segs32)
	own := func() nodeID {
		return c.g.switchOn(nrWord, append(slices.Clone(native), x32), math.MaxUint32+1, nrShape)
	}
	switch c.x32 {
	case x32Own:
		return own()
	case x32Shared:
		return c.sharedX32(native, segs32)
	}
	o, s := own(), c.sharedX32(native, segs32)
	if c.cost(s) < c.cost(o) {
		return s
	}
	return o
}

// sharedX32 returns an x86_64 dispatch where x32 syscalls are decided by
// the native dispatch after masking off the x32 bit, except the numbers
// whose x32 decision differs from the native one (x32's own syscalls,
// native-only numbers, argument checks, which compare low words only on
// x32): those are tested first. Native syscalls cross one more test only
// in the range above the newest one; x32 ones cross two dispatches.
func (c *compiler) sharedX32(native, segs32 []seg) nodeID {
	weighted := slices.Clone(native)
	last, w32 := native[len(native)-1].weight, totalWeight(segs32)
	weighted[len(weighted)-1].weight += w32 // as if x32 hung there
	s := c.g.switchOn(nrWord, weighted, syscalls.X32Bit, nrShape)
	viaNative := c.g.and(nrWord, ^uint32(syscalls.X32Bit), s)
	x32 := c.g.switchOn(nrWord, x32Exceptions(native, segs32, viaNative), math.MaxUint32+1, nrShape)
	return c.g.graft(s, syscalls.X32Bit, x32, share(w32, w32+last))
}

// x32Exceptions returns the x32 segments, going to via wherever the
// native segment of the same number (without the x32 bit; the last native
// segment above them) goes where the x32 segment does.
func x32Exceptions(native, segs32 []seg, via nodeID) []seg {
	var out []seg
	i, j := 0, 0 // segs32[i], native[j] hold the current number
	for b := uint64(syscalls.X32Bit); b <= math.MaxUint32; {
		for i+1 < len(segs32) && segs32[i+1].start <= b {
			i++
		}
		for j+1 < len(native) && native[j+1].start+syscalls.X32Bit <= b {
			j++
		}
		next := uint64(math.MaxUint32 + 1)
		if i+1 < len(segs32) {
			next = segs32[i+1].start
		}
		if j+1 < len(native) {
			next = min(next, native[j+1].start+syscalls.X32Bit)
		}
		to := segs32[i].to
		if to == native[j].to {
			to = via
		}
		out = append(out, seg{start: b, to: to, weight: x32Weight(b, next)})
		b = next
	}
	return out
}

// x32Weight is the dispatch weight of the x32 numbers [from, to).
func x32Weight(from, to uint64) int {
	t := syscalls.Table(syscalls.X32)
	at := func(nr uint64) int {
		return sort.Search(len(t), func(i int) bool { return uint64(t[i].Nr) >= nr })
	}
	return weightEmpty + weightX32*(at(to)-at(from))
}

// cost weighs an x86_64 dispatch as switchOn does: nrShape.lambda per
// instruction, and each syscall's weight per instruction executed with
// arguments 0.
func (c *compiler) cost(root nodeID) int {
	n := nrShape.lambda * c.g.size(root)
	for _, abi := range []syscalls.Arch{syscalls.X86_64, syscalls.X32} {
		w := weightNative
		if abi == syscalls.X32 {
			w = weightX32
		}
		for _, e := range syscalls.Table(abi) {
			_, x := c.g.run(root, &cbpf.SeccompData{Nr: int32(e.Nr), Arch: unix.AUDIT_ARCH_X86_64})
			n += w * x
		}
	}
	return n
}
