package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/cbpf"
	"github.com/confinelab/confine/internal/syscalls"
	"github.com/confinelab/confine/seccomp"
)

// seccompRows times compiling Docker's default profile and counts the
// instructions its filter executes per syscall, in the cBPF simulator.
func seccompRows(n int) ([]row, error) {
	target := seccomp.Target{Caps: seccomp.DefaultCaps}
	var prog *seccomp.Program
	d, err := median(n, func() error {
		var err error
		prog, _, err = seccomp.CompileProfile(seccomp.Default(), target)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("compiling the default profile: %w", err)
	}
	insns := prog.Instructions()
	total, most, count := 0, 0, 0
	for _, e := range syscalls.Table(syscalls.X86_64) {
		data := cbpf.SeccompData{Nr: int32(e.Nr), Arch: unix.AUDIT_ARCH_X86_64}
		_, executed := cbpf.Exec(insns, &data)
		total += executed
		most = max(most, executed)
		count++
	}
	pick := func(name string) int {
		nr, _ := syscalls.Lookup(syscalls.X86_64, name)
		data := cbpf.SeccompData{Nr: int32(nr), Arch: unix.AUDIT_ARCH_X86_64}
		_, executed := cbpf.Exec(insns, &data)
		return executed
	}
	return []row{
		{"seccomp: compile Docker's default profile", fmtDur(d), fmt.Sprintf("%d cBPF instructions, docker's 14 default caps", len(insns))},
		{"seccomp: instructions executed per syscall", fmt.Sprintf("%.1f mean, %d max", float64(total)/float64(count), most),
			fmt.Sprintf("over %d x86_64 syscalls in the simulator; read %d, futex %d, openat %d", count, pick("read"), pick("futex"), pick("openat"))},
	}, nil
}
