//go:build amd64

package rawsys

import (
	"os"
	"testing"
)

func TestInt80Getpid(t *testing.T) {
	const i386Getpid = 20
	if got := Int80(i386Getpid, 0, 0, 0); got != int64(os.Getpid()) {
		t.Fatalf("i386 getpid = %d, want %d", got, os.Getpid())
	}
	const i386Nosuch = 9999
	if got := Int80(i386Nosuch, 0, 0, 0); got != -38 {
		t.Fatalf("i386 syscall 9999 = %d, want -ENOSYS", got)
	}
}
