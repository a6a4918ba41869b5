//go:build mips || ppc

package devfilter

import "unsafe"

type ptr struct {
	_ uint32
	p unsafe.Pointer
}
