package cbpf

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Label names a position in a program under construction. The zero Label is
// Next: "the following instruction".
type Label int

// Next is the fall-through target.
const Next Label = 0

type item struct {
	code   uint16
	k      uint32
	jt, jf Label // conditional jumps; jt is also the JA target
	cond   bool
	ja     bool
	// trampolines inserted by Assemble when an offset exceeds 255
	farT, farF bool
}

// Builder assembles a classic BPF program with symbolic labels. Jumps are
// forward only, as classic BPF requires. The zero value is ready to use.
type Builder struct {
	items  []item
	labels []int // label -> item index it is bound to; -1 unbound; index 0 unused
}

// NewLabel returns a fresh, unbound label.
func (b *Builder) NewLabel() Label {
	if len(b.labels) == 0 {
		b.labels = append(b.labels, -1) // Next
	}
	b.labels = append(b.labels, -1)
	return Label(len(b.labels) - 1)
}

// Bind places l before the next emitted instruction.
func (b *Builder) Bind(l Label) { b.labels[l] = len(b.items) }

// Len returns the number of instructions emitted so far (before trampolines).
func (b *Builder) Len() int { return len(b.items) }

// Stmt emits a non-jump instruction.
func (b *Builder) Stmt(code uint16, k uint32) {
	b.items = append(b.items, item{code: code, k: k})
}

// JumpIf emits a conditional jump (JEQ/JGT/JGE/JSET, K or X source).
func (b *Builder) JumpIf(code uint16, k uint32, jt, jf Label) {
	b.items = append(b.items, item{code: code, k: k, jt: jt, jf: jf, cond: true})
}

// Jump emits an unconditional jump to l.
func (b *Builder) Jump(l Label) {
	b.items = append(b.items, item{code: Ja, jt: l, ja: true})
}

// Ret emits RET K.
func (b *Builder) Ret(k uint32) { b.Stmt(RetK, k) }

// Assemble resolves labels and returns the program. A conditional jump whose
// target is more than 255 instructions away is given a JA trampoline right
// after it; layout is repeated until no offset overflows.
func (b *Builder) Assemble() ([]unix.SockFilter, error) {
	for i := 1; i < len(b.labels); i++ {
		if b.labels[i] < 0 {
			return nil, fmt.Errorf("cbpf: label %d used but never bound", i)
		}
	}
	pos := make([]int, len(b.items)+1)
	for {
		p := 0
		for i, it := range b.items {
			pos[i] = p
			p += 1 + btoi(it.farT) + btoi(it.farF)
		}
		pos[len(b.items)] = p
		grew := false
		for i := range b.items {
			it := &b.items[i]
			if !it.cond {
				continue
			}
			if !it.farT && b.dist(pos, i, it.jt, 0) > 255 {
				it.farT, grew = true, true
			}
			if !it.farF && b.dist(pos, i, it.jf, 0) > 255 {
				it.farF, grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	out := make([]unix.SockFilter, 0, pos[len(b.items)])
	for i, it := range b.items {
		switch {
		case it.ja:
			d := b.dist(pos, i, it.jt, 0)
			if d < 0 {
				return nil, &Error{Index: i, Reason: "backward jump"}
			}
			out = append(out, unix.SockFilter{Code: it.code, K: uint32(d)})
		case it.cond:
			dt, df := b.dist(pos, i, it.jt, 0), b.dist(pos, i, it.jf, 0)
			if dt < 0 || df < 0 {
				return nil, &Error{Index: i, Reason: "backward jump"}
			}
			ins := unix.SockFilter{Code: it.code, K: it.k}
			var tramp []unix.SockFilter
			if it.farT {
				ins.Jt = 0
				tramp = append(tramp, unix.SockFilter{Code: Ja, K: uint32(dt - 1)})
			} else {
				ins.Jt = uint8(dt)
			}
			if it.farF {
				ins.Jf = uint8(btoi(it.farT))
				tramp = append(tramp, unix.SockFilter{Code: Ja, K: uint32(df - 1 - btoi(it.farT))})
			} else {
				ins.Jf = uint8(df)
			}
			out = append(out, ins)
			out = append(out, tramp...)
		default:
			out = append(out, unix.SockFilter{Code: it.code, K: it.k})
		}
	}
	if len(out) > MaxInsns {
		return nil, &TooLongError{Len: len(out)}
	}
	return out, nil
}

// dist is the jump offset from item i to label l, measured from the
// instruction following i plus skip trampolines.
func (b *Builder) dist(pos []int, i int, l Label, skip int) int {
	from := pos[i] + 1 + skip
	if l == Next {
		return pos[i+1] - from
	}
	return pos[b.labels[l]] - from
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}
