package vmtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/confinelab/confine/internal/vmtest"
)

// Run a test binary built with `CGO_ENABLED=0 go test -c` in the VM, as
// `go test -exec vmexec` does, and tell runner failures from test failures.
func ExampleRun() {
	status, err := vmtest.Run(context.Background(), vmtest.Config{
		Binary: "./cgroup.test",
		Args:   []string{"-test.run", "^TestVMMemory", "-test.timeout=5m"},
		PkgDir: "./cgroup", // its testdata/ is copied into the VM
	})
	var missing *vmtest.MissingError
	switch {
	case errors.As(err, &missing):
		fmt.Fprintln(os.Stderr, err) // names `make provision`
		os.Exit(1)
	case err != nil: // watchdog, kernel panic: never a pass
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(status)
}
