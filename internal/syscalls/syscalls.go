package syscalls

import (
	"fmt"
	"sync"
)

// Arch is one of the syscall ABIs of an x86_64 kernel.
type Arch int

// The ABIs.
const (
	X86_64 Arch = iota + 1
	I386
	X32
)

// X32Bit marks an x32 syscall number (__X32_SYSCALL_BIT).
const X32Bit = 0x40000000

func (a Arch) String() string {
	switch a {
	case X86_64:
		return "x86_64"
	case I386:
		return "i386"
	case X32:
		return "x32"
	}
	return fmt.Sprintf("Arch(%d)", int(a))
}

// Entry is one syscall: its number as seccomp sees it and its name.
type Entry struct {
	Nr   uint32
	Name string
}

// Table returns the syscalls of a, sorted by number. Do not modify it.
func Table(a Arch) []Entry {
	switch a {
	case X86_64:
		return tableX86_64
	case I386:
		return tableI386
	case X32:
		return tableX32
	}
	return nil
}

var byName = sync.OnceValue(func() map[Arch]map[string]uint32 {
	m := map[Arch]map[string]uint32{}
	for _, a := range []Arch{X86_64, I386, X32} {
		t := Table(a)
		m[a] = make(map[string]uint32, len(t))
		for _, e := range t {
			m[a][e.Name] = e.Nr
		}
	}
	return m
})

// Lookup returns the number of the named syscall on a.
func Lookup(a Arch, name string) (uint32, bool) {
	nr, ok := byName()[a][name]
	return nr, ok
}

// Name returns the name of syscall nr on a, or "" if there is none.
func Name(a Arch, nr uint32) string {
	t := Table(a)
	lo, hi := 0, len(t)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case t[m].Nr == nr:
			return t[m].Name
		case t[m].Nr < nr:
			lo = m + 1
		default:
			hi = m
		}
	}
	return ""
}

// Newest returns the number of the newest syscall of a: the highest number
// outside x32's legacy 512..547 range (which no new syscall will use).
func Newest(a Arch) uint32 {
	t := Table(a)
	for i := len(t) - 1; i >= 0; i-- {
		if n := t[i].Nr &^ X32Bit; n < 512 || n > 547 {
			return t[i].Nr
		}
	}
	return 0
}
