package cgroup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func TestVMMemoryMaxOOMKill(t *testing.T) {
	cg := vmCgroup(t, "oom", Resources{Memory: &Memory{Max: 16 << 20}})
	cmd := testutil.HelperCommand(t, "alloc", "64")
	cmd.Stdout = nil
	startIn(t, cg, cmd)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("64 MiB allocation under a 16 MiB limit: %v, want killed", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", ws)
	}
	s := stats(t, cg, StatMemory)
	if s.Memory.Events.OOMKill < 1 || s.Memory.Events.Max < 1 {
		t.Errorf("memory.events after OOM: %+v", s.Memory.Events)
	}
	// Charges are batched per CPU, so the peak may pass the limit by a
	// few pages before reclaim and the OOM killer act.
	if s.Memory.Peak > 17<<20 || s.Memory.Peak < 8<<20 {
		t.Errorf("memory.peak %d, want near the 16 MiB limit", s.Memory.Peak)
	}
}

func TestVMMemoryHighThrottlesWithoutKilling(t *testing.T) {
	cg := vmCgroup(t, "high", Resources{Memory: &Memory{High: 24 << 20}})
	cmd := testutil.HelperCommand(t, "alloc", "40")
	startIn(t, cg, cmd)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// With no swap, anonymous memory over memory.high cannot be reclaimed:
	// the kernel slows the allocator down instead (penalty sleeps). It
	// either finishes late or is still crawling; it is never killed.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("allocator under memory.high failed: %v", err)
		}
	case <-time.After(8 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	s := stats(t, cg, StatMemory)
	if s.Memory.Events.High < 1 {
		t.Errorf("memory.events high = 0: never throttled (%+v)", s.Memory.Events)
	}
	if s.Memory.Events.OOMKill != 0 || s.Memory.Events.OOM != 0 {
		t.Errorf("memory.high caused an OOM: %+v", s.Memory.Events)
	}
}

// cpuShare measures a cgroup's CPU use over wall time from cpu.stat.
func cpuShare(t *testing.T, cg *Cgroup, d time.Duration) (share float64, throttled uint64) {
	t.Helper()
	s0 := stats(t, cg, StatCPU)
	t0 := time.Now()
	time.Sleep(d)
	s1 := stats(t, cg, StatCPU)
	wall := time.Since(t0)
	used := time.Duration(s1.CPU.UsageUsec-s0.CPU.UsageUsec) * time.Microsecond
	return float64(used) / float64(wall), s1.CPU.NrThrottled - s0.CPU.NrThrottled
}

func TestVMCPUMaxHalf(t *testing.T) {
	cg := vmCgroup(t, "cpumax", Resources{CPU: &CPU{Max: CPUs(0.5)}})
	startIn(t, cg, testutil.HelperCommand(t, "spin", "10"))
	time.Sleep(500 * time.Millisecond) // past exec and runtime start-up
	share, throttled := cpuShare(t, cg, 2*time.Second)
	t.Logf("cpu.max 0.5: share %.3f, nr_throttled +%d", share, throttled)
	// The limit is the upper bound. Below it, a loaded host shows: the
	// VM's clock follows the host's while its vCPU thread waits for a
	// host core (seen: 0.448 in a CI run beside other work), so only a
	// hog that barely ran is an error; nr_throttled proves the quota cut
	// in.
	if share < 0.25 || share > 0.55 {
		t.Errorf("CPU share %.3f, want at most 0.55 (and the hog running: >= 0.25)", share)
	}
	if throttled < 5 {
		t.Errorf("nr_throttled grew by %d, want >= 5 over 20 periods", throttled)
	}
}

func TestVMCPUWeightSplit(t *testing.T) {
	testutil.RequireVM(t)
	parent := testutil.TempCgroup(t)
	// Both groups pinned to CPU 0 so they compete for one CPU.
	var cgs [2]*Cgroup
	for i, w := range []uint64{100, 400} {
		cg, err := New(filepath.Join(parent, "w"+strconv.FormatUint(w, 10)),
			Resources{CPU: &CPU{Weight: w, Cpus: "0"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { killDelete(t, cg) })
		cgs[i] = cg
		startIn(t, cg, testutil.HelperCommand(t, "spin", "10"))
	}
	time.Sleep(500 * time.Millisecond)
	s0 := [2]Stats{stats(t, cgs[0], StatCPU), stats(t, cgs[1], StatCPU)}
	time.Sleep(2 * time.Second)
	s1 := [2]Stats{stats(t, cgs[0], StatCPU), stats(t, cgs[1], StatCPU)}
	lo := float64(s1[0].CPU.UsageUsec - s0[0].CPU.UsageUsec)
	hi := float64(s1[1].CPU.UsageUsec - s0[1].CPU.UsageUsec)
	ratio := hi / lo
	t.Logf("cpu.weight 400 vs 100 on one CPU: %.0f vs %.0f usec, ratio %.2f", hi, lo, ratio)
	// Ideal is 4; CFS tracks weight closely over 2 s of contention, but
	// wake-ups and the test's own reads perturb it: accept 3..5.5.
	if ratio < 3 || ratio > 5.5 {
		t.Errorf("ratio %.2f, want about 4 (3..5.5)", ratio)
	}
	// Both must have run for the ratio to mean anything; how much of the
	// 2 s the vCPU got depends on the host's load (see TestVMCPUMaxHalf).
	if lo+hi < 0.6e6 {
		t.Errorf("the two groups used %.0f usec of 2 s on one CPU: not competing", lo+hi)
	}
}

// directWrite runs the ddwrite helper in cg and returns the write rate.
func directWrite(t *testing.T, cg *Cgroup, dev string, mib int) float64 {
	t.Helper()
	cmd := testutil.HelperCommand(t, "ddwrite", dev, strconv.Itoa(mib))
	var out bytes.Buffer
	cmd.Stdout = &out
	startIn(t, cg, cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("direct writes: %v", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		t.Fatalf("helper output %q", out.String())
	}
	return float64(mib<<20) / (float64(ns) / 1e9)
}

func TestVMIOMaxWbps(t *testing.T) {
	testutil.RequireVM(t)
	dev := loopDevice(t, 32<<20)
	const limit, mib = 1 << 20, 5
	free := vmCgroup(t, "io-free", Resources{IO: &IO{Weight: 100}})
	unlimited := directWrite(t, free, dev, mib)
	cg := vmCgroup(t, "io", Resources{IO: &IO{Devices: []IODevice{{Path: dev, Wbps: limit}}}})
	rate := directWrite(t, cg, dev, mib)
	t.Logf("io.max wbps=%d: measured %.0f B/s (%.1f%%); unthrottled %.0f B/s", limit, rate, 100*rate/limit, unlimited)
	if unlimited < 2*limit {
		t.Fatalf("the loop device writes only %.0f B/s unthrottled: too slow to check a %d B/s limit", unlimited, limit)
	}
	if rate < 0.85*limit || rate > 1.15*limit {
		t.Errorf("write rate %.0f B/s, want within 15%% of %d", rate, limit)
	}
	s := stats(t, cg, StatIO)
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, d := range s.IO.Devices {
		if d.Major == unix.Major(st.Rdev) && d.Minor == unix.Minor(st.Rdev) {
			found = true
			if d.Wbytes < mib<<20 {
				t.Errorf("io.stat wbytes %d, want >= %d MiB", d.Wbytes, mib)
			}
		}
	}
	if !found {
		t.Errorf("io.stat has no line for %s: %+v", dev, s.IO.Devices)
	}
}

func TestVMPidsMax(t *testing.T) {
	cg := vmCgroup(t, "pids", Resources{Pids: &Pids{Max: 16}})
	sleep := "/bin/sleep"
	for i := 1; i <= 16; i++ {
		startIn(t, cg, exec.Command(sleep, "60"))
	}
	cmd := exec.Command(sleep, "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
	err := cmd.Start()
	if !errors.Is(err, unix.EAGAIN) {
		if err == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		t.Fatalf("17th fork: %v, want EAGAIN", err)
	}
	s := stats(t, cg, StatPids)
	if s.Pids.Current != 16 || s.Pids.Peak != 16 {
		t.Errorf("pids current %d peak %d, want 16", s.Pids.Current, s.Pids.Peak)
	}
}

func TestVMPidsSurvivesForkBomb(t *testing.T) {
	cg := vmCgroup(t, "bomb", Resources{Pids: &Pids{Max: 16}})
	bomb := exec.Command("/bin/sh", "-c", "b() { b | b & }; b; sleep 3")
	startIn(t, cg, bomb)
	time.Sleep(3 * time.Second)
	s := stats(t, cg, StatPids)
	if s.Pids.Peak > 16 || s.Pids.Current > 16 {
		t.Errorf("fork bomb exceeded pids.max: %+v", s.Pids)
	}
	ev, err := os.ReadFile(filepath.Join(cg.Path(), "pids.events"))
	if err != nil || !bytes.HasPrefix(ev, []byte("max ")) || bytes.HasPrefix(ev, []byte("max 0")) {
		t.Errorf("pids.events %q, %v: want refused forks counted", ev, err)
	}
	// The test process (outside the group) still forks fine.
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Errorf("fork outside the limited group: %v", err)
	}
}

func TestVMApplyRollsBackKernelRefusal(t *testing.T) {
	cg := vmCgroup(t, "rollback", Resources{CPU: &CPU{Weight: 100}, Memory: &Memory{Max: Unlimited},
		IO: &IO{Weight: 100}, Pids: &Pids{Max: 100}})
	before := map[string]string{}
	files := []string{"cpu.weight", "memory.max", "pids.max", "io.max"}
	for _, f := range files {
		before[f] = readTrim(t, filepath.Join(cg.Path(), f))
	}
	// io.max for a device that does not exist: the kernel refuses it after
	// cpu.weight, memory.max and pids.max were written.
	err := cg.Apply(Resources{CPU: &CPU{Weight: 777}, Memory: &Memory{Max: 64 << 20}, Pids: &Pids{Max: 7},
		IO: &IO{Devices: []IODevice{{Major: 254, Minor: 254, Rbps: 1 << 20}}}})
	var fe *StepError
	if !errors.As(err, &fe) || filepath.Base(fe.Path) != "io.max" {
		t.Fatalf("Apply: %v, want the kernel's io.max refusal", err)
	}
	t.Logf("kernel refusal: %v", err)
	for _, f := range files {
		if got := readTrim(t, filepath.Join(cg.Path(), f)); got != before[f] {
			t.Errorf("%s = %q after rollback, was %q", f, got, before[f])
		}
	}
}

func TestVMLeakCycles(t *testing.T) {
	testutil.RequireVM(t)
	parent := testutil.TempCgroup(t)
	testutil.CheckLeaks(t)
	// 1000 cycles take 75-190 s under TCG (exec of the child dominates), too
	// much of the package's VM budget; 200 show the same absence of leaks.
	// CONFINE_VM_ENV=CONFINE_LEAK_CYCLES CONFINE_LEAK_CYCLES=1000 runs all.
	n := 200
	if !testutil.InVM() || os.Getenv("CONFINE_LEAK_CYCLES") == "1000" {
		n = 1000
	}
	start := time.Now()
	r := Resources{CPU: &CPU{Max: CPUs(0.5)}, Memory: &Memory{Max: 64 << 20}, Pids: &Pids{Max: 32}}
	for i := range n {
		cg, err := New(filepath.Join(parent, "c"), r)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		cmd := exec.Command("/bin/sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
		if err := cmd.Start(); err != nil {
			t.Fatalf("cycle %d: start: %v", i, err)
		}
		if err := cg.AddProcess(cmd.Process.Pid); err != nil {
			t.Fatalf("cycle %d: AddProcess: %v", i, err)
		}
		// Kill, wait for empty and remove in one call; the exited child
		// leaves the cgroup before it is reaped.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = cg.DeleteContext(ctx, DeleteOptions{Kill: true})
		cancel()
		_ = cmd.Wait()
		if err != nil {
			t.Fatalf("cycle %d: DeleteContext with Kill: %v", i, err)
		}
	}
	t.Logf("%d create/apply/add/kill/delete cycles in %v", n, time.Since(start))
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestVMStatsPopulated(t *testing.T) {
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	// Enable every controller Stats reads: a disabled one's files are
	// missing, which Stats reports as an error.
	var huge []HugeTLB
	for _, size := range h.HugePageSizes {
		huge = append(huge, HugeTLB{PageSize: size, Max: Unlimited})
	}
	cg := vmCgroup(t, "stats", Resources{CPU: &CPU{Weight: 100}, Memory: &Memory{Max: 256 << 20},
		IO: &IO{Weight: 100}, Pids: &Pids{Max: 64}, HugeTLB: huge})
	startIn(t, cg, testutil.HelperCommand(t, "spin", "10"))
	time.Sleep(300 * time.Millisecond)
	var s Stats
	if err := cg.Stats(&s, StatAll&^StatNetwork); err != nil {
		t.Fatal(err)
	}
	if s.CPU.UsageUsec == 0 || s.Memory.Current == 0 || s.Memory.Stat.Anon == 0 || s.Pids.Current == 0 {
		t.Errorf("populated cgroup reads as idle: %+v", s)
	}
	if len(s.HugeTLB) == 0 {
		t.Logf("no huge page sizes in this VM")
	}
}
