package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func init() { testutil.RegisterHelper("mount-bench", helperBench) }

// helperBench runs Setup for the root given as JSON in args[0] and prints
// how long Setup alone took, in nanoseconds.
func helperBench(args []string) int {
	var r Root
	if err := json.Unmarshal([]byte(args[0]), &r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := time.Now()
	if err := r.Setup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// BenchmarkSetup measures Setup of a read-only busybox root (proc, sysfs,
// minimal /dev, tmpfs, default masked and read-only paths, pivot_root),
// each in a fresh mount namespace of a new child. ns/op includes starting
// the child; setup-ns/op is Setup alone, timed inside the child.
func BenchmarkSetup(b *testing.B) {
	testutil.RequireRoot(b)
	root := busyboxRootB(b)
	cfg, _ := json.Marshal(standardRoot(root))
	var setupNs int64
	for b.Loop() {
		cmd := helperCommand(b, "mount-bench", string(cfg))
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID}
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("helper: %v", err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		setupNs += ns
	}
	b.ReportMetric(float64(setupNs)/float64(b.N), "setup-ns/op")
}

func busyboxRootB(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(root+"/"+d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return root
}
