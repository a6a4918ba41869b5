package cbpf_test

import (
	"fmt"

	"github.com/confinelab/confine/internal/cbpf"
	"golang.org/x/sys/unix"
)

// Assemble a filter that allows getpid and refuses everything else with
// EPERM, then run it in the simulator.
func ExampleBuilder() {
	var b cbpf.Builder
	deny := b.NewLabel()
	b.Stmt(cbpf.LdAbsW, cbpf.OffNr)
	b.JumpIf(cbpf.JeqK, unix.SYS_GETPID, cbpf.Next, deny)
	b.Ret(unix.SECCOMP_RET_ALLOW)
	b.Bind(deny)
	b.Ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	prog, err := b.Assemble()
	if err != nil {
		panic(err)
	}
	for _, nr := range []int32{unix.SYS_GETPID, unix.SYS_MOUNT} {
		ret, executed, err := cbpf.Run(prog, &cbpf.SeccompData{Nr: nr, Arch: unix.AUDIT_ARCH_X86_64})
		fmt.Printf("nr %d: %#x after %d instructions (%v)\n", nr, ret, executed, err)
	}
	// Output:
	// nr 39: 0x7fff0000 after 3 instructions (<nil>)
	// nr 165: 0x50001 after 3 instructions (<nil>)
}
