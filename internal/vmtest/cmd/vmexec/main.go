// Command vmexec runs a Go test binary inside the test bed's qemu VM. It is
// meant for `go test -exec`:
//
//	CGO_ENABLED=0 go test -exec "$PWD/.cache/bin/vmexec" -run TestVM ./cgroup
//
// (`make test-vm PKG=./cgroup RUN=TestVMMemory` does this). go test runs it
// in the package directory with the binary and its -test.* arguments;
// vmexec boots the VM, streams the test's output and exits with the test's
// status. Runner failures (missing qemu or kernel, watchdog timeout, kernel
// panic) print a message on stderr and exit 1, never 0.
//
// Environment: CONFINE_CACHE (kernel and image cache, default
// /var/cache/confine), CONFINE_VM_MEM (MiB, default 2048), CONFINE_VM_SMP
// (default 2), CONFINE_VM_TIMEOUT (watchdog override), CONFINE_VM_ENV
// (extra variable names to pass into the VM), CONFINE_VM_FILES (host files
// or directories, separated by colons, copied into the VM at the same
// paths), CONFINE_VM_PROGRAMS (dynamically linked host programs, separated
// by colons, carried with their shared libraries), CONFINE_VM_CONSOLE=1 (print
// the kernel console on stderr afterwards), CONFINE_VM_APPEND (extra kernel
// command line), CONFINE_VM_QEMU_ARGS (extra qemu arguments, split on spaces).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/confinelab/confine/internal/vmtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vmexec TEST-BINARY [ARGS...]  (for go test -exec)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	defer stop()
	cfg := vmtest.Config{Binary: os.Args[1], Args: os.Args[2:]}
	if os.Getenv("CONFINE_VM_CONSOLE") == "1" {
		cfg.Console = os.Stderr
	}
	status, err := vmtest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmexec:", err)
		stop()
		os.Exit(1)
	}
	stop()
	os.Exit(status)
}
