package namespace_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/spawnbench"
	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
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

// BenchmarkSpawnFullVsBwrap is the library path with confine run's setup:
// /bin/true in new PID, NET, IPC, MNT, UTS and CGROUP namespaces, a
// read-only busybox root (mount.DefaultRoot: /proc, read-only /sys, a
// minimal /dev, masked paths) with a tmpfs on /tmp, Docker's default
// capabilities and seccomp filter (compiled once, as a caller caches it),
// and a cgroup of its own per start with Docker's device allowlist
// (created, started in, deleted). As confine run does, the init is
// forked into the empty cgroup (Prestart) and the device filter attached
// while it starts up. Each iteration runs it and then
// `bwrap --unshare-all --ro-bind ROOT / --proc /proc --dev /dev --tmpfs
// /tmp /bin/true`, so both see the same machine; it reports both medians
// and the median of the per-iteration ratios (confine/bwrap).
func BenchmarkSpawnFullVsBwrap(b *testing.B) {
	bw, parent, prog, r := spawnVsBwrap(b)
	caps := seccomp.DefaultCaps
	n := 0
	library := func() error {
		n++
		cg, err := cgroup.New(filepath.Join(parent, "s"+strconv.Itoa(n)), cgroup.Resources{})
		if err != nil {
			return err
		}
		defer cg.Delete()
		c := &namespace.Cmd{Path: "/bin/true", Namespaces: spawnbench.Namespaces,
			Root: &r, Seccomp: prog, CgroupFD: cg.FD(), Env: []string{},
			Capabilities: &namespace.Capabilities{Bounding: caps, Effective: caps, Permitted: caps}}
		// The init is born in the cgroup and starts up while the device
		// filter is loaded and attached, before it sets anything up.
		if err := c.Prestart(); err != nil {
			return err
		}
		if err := cg.Apply(cgroup.Resources{Devices: cgroup.DefaultDevices()}); err != nil {
			_ = c.Signal(syscall.SIGKILL)
			_, _ = c.Wait()
			return err
		}
		st, err := c.Run()
		if err == nil && !st.Success() {
			err = fmt.Errorf("state %+v", st)
		}
		return err
	}
	for _, f := range []func() error{library, bw} { // warm caches; fail early
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	var lib, ref, ratio []float64
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := library(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := bw(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		lib = append(lib, float64(t1.Sub(t0).Microseconds())/1000)
		ref = append(ref, float64(t2.Sub(t1).Microseconds())/1000)
		ratio = append(ratio, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
	}
	b.StopTimer()
	b.ReportMetric(median(lib), "confine-ms")
	b.ReportMetric(median(ref), "bwrap-ms")
	b.ReportMetric(median(ratio), "ratio")
}

// BenchmarkSpawnPooledVsBwrap is BenchmarkSpawnFullVsBwrap with the init
// taken from a Pool of two: the cgroup (made with Docker's device
// allowlist), the clone, the init's Go start and the namespaces' setup
// (the root built, lo up) happen in the refill, ahead of need; each
// measured start takes a waiting init, completes it (seccomp,
// capabilities, command), runs it and deletes its cgroup. The refill runs
// on the same 2 CPUs as everything measured.
//
// "interleaved": each iteration times one pooled run and one bwrap run
// (testutil.Interleave, alternating order), so the refill mostly overlaps
// bwrap: the latency of a start from a warm pool. "sustained": b.N pooled
// runs back to back, then b.N bwrap runs, mean ms per run: the rate when
// starts come faster than the refill, which then competes with them.
func BenchmarkSpawnPooledVsBwrap(b *testing.B) {
	bw, parent, prog, r := spawnVsBwrap(b)
	p, err := spawnbench.NewPooled(parent, &r, prog)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	pooled := p.Run
	b.Run("interleaved", func(b *testing.B) {
		testutil.Interleave(b, []testutil.Run{{Name: "pooled", Once: pooled}, {Name: "bwrap", Once: bw}})
	})
	b.Run("sustained", func(b *testing.B) {
		var mean [2]float64
		for i, f := range []func() error{pooled, bw} {
			t0 := time.Now()
			for range b.N {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			mean[i] = float64(time.Since(t0).Microseconds()) / 1000 / float64(b.N)
		}
		b.ReportMetric(mean[0], "pooled-ms/op")
		b.ReportMetric(mean[1], "bwrap-ms/op")
		b.ReportMetric(mean[0]/mean[1], "ratio")
	})
}

// spawnVsBwrap is the setup both ...VsBwrap benchmarks share: the bwrap
// run they compare with (/bin/true in a read-only busybox root, tmpfs
// /tmp, every namespace), a parent cgroup, Docker's default seccomp
// program and the same root for confine.
func spawnVsBwrap(b *testing.B) (bw func() error, parent string, prog *seccomp.Program, r mount.Root) {
	testutil.RequireRoot(b)
	bwrap := testutil.RequireCommand(b, "bwrap")
	root := busyboxRoot(b)
	parent = testutil.TempCgroup(b)
	prog, err := spawnbench.Filter()
	if err != nil {
		b.Fatal(err)
	}
	r = spawnbench.Root(root)
	args := spawnbench.BwrapArgs(root, "/bin/true")
	bw = func() error { return exec.Command(bwrap, args[1:]...).Run() }
	return bw, parent, prog, r
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
