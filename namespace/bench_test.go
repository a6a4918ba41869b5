package namespace_test

import (
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// measure runs one start+reap per iteration and reports the median wall
// time as "median-ms" beside Go's mean ns/op.
func measure(b *testing.B, once func() error) {
	b.Helper()
	if err := once(); err != nil { // warm caches; fail early
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := once(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
}

// BenchmarkSpawn compares starting and reaping /bin/true in new
// PID+NET+IPC+MNT+UTS namespaces behind a read-only busybox root (pivot_root)
// with unshare(1) and bwrap(1) doing the same in the same run.
func BenchmarkSpawn(b *testing.B) {
	testutil.RequireRoot(b)
	root := busyboxRoot(b)
	b.Run("confine", func(b *testing.B) {
		measure(b, func() error {
			c := &namespace.Cmd{Path: "/bin/true", Namespaces: fiveNS,
				Root: &mount.Root{Path: root, Readonly: true, Mounts: []mount.Mount{mount.Proc("/proc")}}}
			_, err := c.Run()
			return err
		})
	})
	b.Run("unshare", func(b *testing.B) {
		if _, err := exec.LookPath("unshare"); err != nil {
			b.Skip("unshare not installed")
		}
		measure(b, func() error {
			return exec.Command("unshare", "-pfnimu", "--mount-proc", "true").Run()
		})
	})
	b.Run("bwrap", func(b *testing.B) {
		if _, err := exec.LookPath("bwrap"); err != nil {
			b.Skip("bwrap not installed")
		}
		measure(b, func() error {
			return exec.Command("bwrap", "--unshare-all", "--ro-bind", root, "/", "/bin/true").Run()
		})
	})
}
