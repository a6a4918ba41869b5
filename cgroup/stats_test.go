package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	cpuStatFixture = `usage_usec 1234567
user_usec 1000000
system_usec 234567
core_sched.force_idle_usec 0
nr_periods 40
nr_throttled 21
throttled_usec 987654
nr_bursts 2
burst_usec 300
`
	memStatFixture = `anon 1048576
file 2097152
kernel 65536
kernel_stack 16384
pagetables 8192
sock 0
shmem 4096
file_mapped 12288
file_dirty 0
file_writeback 0
anon_thp 0
inactive_anon 1000
active_anon 2000
inactive_file 3000
active_file 4000
unevictable 0
slab 5000
pgfault 777
pgmajfault 7
workingset_refault_anon 1
workingset_refault_file 2
`
	memEventsFixture = "low 0\nhigh 5\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n"
	ioStatFixture    = "7:0 rbytes=4096 wbytes=1048576 rios=1 wios=256 dbytes=0 dios=0\n" +
		"8:16 rbytes=10 wbytes=20 rios=3 wios=4 dbytes=5 dios=6\n"
	psiFixture = "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n" +
		"full avg10=100.00 avg60=0.01 avg300=3.07 total=99\n"
)

func TestParseCPUStat(t *testing.T) {
	var s CPUStats
	if err := parseCPUStat([]byte(cpuStatFixture), &s); err != nil {
		t.Fatal(err)
	}
	want := CPUStats{UsageUsec: 1234567, UserUsec: 1000000, SystemUsec: 234567, NrPeriods: 40,
		NrThrottled: 21, ThrottledUsec: 987654, NrBursts: 2, BurstUsec: 300}
	if s != want {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	for _, bad := range []string{"usage_usec x\n", "usage_usec -1\n", "user_usec 1\n", "usage_usec 99999999999999999999999\n"} {
		if err := parseCPUStat([]byte(bad), &s); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseMemory(t *testing.T) {
	var m MemoryStat
	if err := parseMemoryStat([]byte(memStatFixture), &m); err != nil {
		t.Fatal(err)
	}
	if m.Anon != 1048576 || m.File != 2097152 || m.Slab != 5000 || m.PgMajFault != 7 ||
		m.ActiveFile != 4000 || m.WorkingsetRefaultFile != 2 || m.KernelStack != 16384 {
		t.Errorf("memory.stat: %+v", m)
	}
	var e MemoryEvents
	if err := parseMemoryEventsStat([]byte(memEventsFixture), &e); err != nil {
		t.Fatal(err)
	}
	if e != (MemoryEvents{High: 5, Max: 9, OOM: 2, OOMKill: 1}) {
		t.Errorf("memory.events: %+v", e)
	}
}

func TestParseIOStat(t *testing.T) {
	devs := make([]IODeviceStats, 5) // reused and truncated
	devs, err := parseIOStat([]byte(ioStatFixture), devs)
	if err != nil {
		t.Fatal(err)
	}
	want := []IODeviceStats{
		{Major: 7, Rbytes: 4096, Wbytes: 1048576, Rios: 1, Wios: 256},
		{Major: 8, Minor: 16, Rbytes: 10, Wbytes: 20, Rios: 3, Wios: 4, Dbytes: 5, Dios: 6},
	}
	if len(devs) != 2 || devs[0] != want[0] || devs[1] != want[1] {
		t.Errorf("got %+v", devs)
	}
	for _, bad := range []string{"x rbytes=1\n", "8:0 rbytes\n", "8:0 rbytes=z\n", "8:99999999999 rbytes=1\n"} {
		if _, err := parseIOStat([]byte(bad), nil); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParsePSI(t *testing.T) {
	var p PSI
	if err := parsePSI([]byte(psiFixture), &p); err != nil {
		t.Fatal(err)
	}
	want := PSI{Some: PSIData{1.5, 0.25, 0, 123456}, Full: PSIData{100, 0.01, 3.07, 99}}
	if p != want {
		t.Errorf("got %+v", p)
	}
	for _, bad := range []string{"none avg10=1\n", "some avg10\n", "some avg10=1.x\n", "some total=-1\n"} {
		if err := parsePSI([]byte(bad), &p); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseSingle(t *testing.T) {
	for in, want := range map[string]uint64{"0\n": 0, "4096\n": 4096, "max\n": 1<<64 - 1} {
		if got, err := parseSingle([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "\n", "-1", "1 2", "18446744073709551616"} {
		if _, err := parseSingle([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseStats(f *testing.F) {
	for _, s := range []string{cpuStatFixture, memStatFixture, memEventsFixture, ioStatFixture, psiFixture, "max 3\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c CPUStats
		_ = parseCPUStat(b, &c)
		var m MemoryStat
		_ = parseMemoryStat(b, &m)
		var e MemoryEvents
		_ = parseMemoryEventsStat(b, &e)
		devs, _ := parseIOStat(b, nil)
		_ = devs
		var p PSI
		if parsePSI(b, &p) == nil && (p.Some.Avg10 < 0 || p.Full.Avg300 < 0) {
			t.Fatal("negative average")
		}
		_, _ = parseEventsMax(b)
		_, _ = parseSingle(b)
	})
}

// statFixtures writes a populated cgroup's stat files into dir.
func statFixtures(t testing.TB, dir string) {
	files := map[string]string{
		"cpu.stat": cpuStatFixture, "memory.current": "3145728\n", "memory.peak": "4194304\n",
		"memory.stat": memStatFixture, "memory.events": memEventsFixture, "io.stat": ioStatFixture,
		"pids.current": "3\n", "pids.peak": "17\n", "cpu.pressure": psiFixture, "memory.pressure": psiFixture,
		"io.pressure": psiFixture, "hugetlb.2MB.current": "0\n", "hugetlb.2MB.max": "max\n",
		"hugetlb.2MB.events": "max 4\n", "hugetlb.1GB.current": "1073741824\n", "hugetlb.1GB.max": "1073741824\n",
		"hugetlb.1GB.events": "max 0\n", "cpu.max": "max 100000\n", "memory.max": "max\n",
		"memory.swap.current": "0\n", "memory.swap.max": "max\n", "pids.max": "max\n",
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatsFromFiles(t *testing.T) {
	f := newFakeRoot(t, true)
	statFixtures(t, f.cg.path)
	var s Stats
	if err := f.cg.Stats(&s, StatAll&^StatNetwork); err != nil {
		t.Fatal(err)
	}
	if s.CPU.NrThrottled != 21 || s.Memory.Current != 3145728 || s.Memory.Peak != 4194304 ||
		s.Memory.Events.OOMKill != 1 || s.Memory.Stat.Anon != 1048576 || len(s.IO.Devices) != 2 ||
		s.Pids.Current != 3 || s.Pids.Peak != 17 || s.PSI.IO.Full.Avg300 != 3.07 {
		t.Errorf("stats: %+v", s)
	}
	if len(s.HugeTLB) != 2 || s.HugeTLB[0] != (HugeTLBStats{PageSize: "2MB", Max: 1<<64 - 1, MaxEvents: 4}) ||
		s.HugeTLB[1].Current != 1<<30 {
		t.Errorf("hugetlb: %+v", s.HugeTLB)
	}
}

func TestStatsMissingFileIsError(t *testing.T) {
	f := newFakeRoot(t, true)
	statFixtures(t, f.cg.path)
	if err := os.Remove(filepath.Join(f.cg.path, "memory.peak")); err != nil {
		t.Fatal(err)
	}
	var s Stats
	if err := f.cg.Stats(&s, StatCPU); err != nil {
		t.Fatalf("CPU only: %v", err)
	}
	err := f.cg.Stats(&s, StatCPU|StatMemory)
	var fe *StepError
	if !errors.Is(err, unix.ENOENT) || !errors.As(err, &fe) || filepath.Base(fe.Path) != "memory.peak" {
		t.Errorf("Stats: %v, want ENOENT naming memory.peak", err)
	}
	if err := os.WriteFile(filepath.Join(f.cg.path, "pids.current"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.cg.Stats(&s, StatPids); err == nil {
		t.Error("malformed pids.current accepted")
	}
	f.cg.Close()
	if err := f.cg.Stats(&s, StatCPU); !errors.Is(err, errClosed) {
		t.Errorf("Stats after Close: %v", err)
	}
}

func TestStatsAllocations(t *testing.T) {
	f := newFakeRoot(t, true)
	statFixtures(t, f.cg.path)
	var s Stats
	if err := f.cg.Stats(&s, StatAll&^StatNetwork); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { _ = f.cg.Stats(&s, StatCPU|StatMemory) }); n != 0 {
		t.Errorf("CPU+memory stats: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(50, func() { _ = f.cg.Stats(&s, StatAll&^StatNetwork) }); n > 20 {
		t.Errorf("full stats: %v allocs, want <= 20", n)
	}
}
