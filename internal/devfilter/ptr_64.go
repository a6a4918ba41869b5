//go:build !(386 || arm || mips || mipsle || ppc)

package devfilter

import "unsafe"

type ptr struct{ p unsafe.Pointer }
