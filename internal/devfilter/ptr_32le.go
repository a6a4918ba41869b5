//go:build 386 || arm || mipsle

package devfilter

import "unsafe"

type ptr struct {
	p unsafe.Pointer
	_ uint32
}
