//go:build amd64

package rawsys

// Int80 performs the i386 syscall trap(a1, a2, a3) with "int $0x80" and
// returns eax sign-extended: a negative value is -errno.
//
//go:noescape
func Int80(trap, a1, a2, a3 uintptr) int64
