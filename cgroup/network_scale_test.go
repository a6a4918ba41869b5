package cgroup

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// Many limited cgroups on one host. Each limited cgroup costs three
// programs, three links and four maps of its own (nothing is shared between
// cgroups, so one cgroup's packets never touch another's cache lines), all
// pinned in its own directory. These check that this scales: creation,
// memory, the per-packet cost, and that Delete leaves nothing behind.

var bwCgroups = flag.Int("bw.cgroups", 1000, "limited cgroups BenchmarkNetworkScale creates")

// limiterObjects are the kernel ids of one cgroup's limiter: its egress,
// ingress and pacing programs, in that order, and their maps.
type limiterObjects = testutil.BPFObjects

func limiterObjectsOf(t testing.TB, c *Cgroup) limiterObjects {
	t.Helper()
	dir, err := c.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	ids := limiterIDs(t, dir)
	return testutil.ObjectsOf(t, ids[bwprog.Egress], ids[bwprog.Ingress], pacingID(t, dir))
}

// memlock is the kernel's memory accounting (fdinfo memlock) of a
// limiter's programs and maps, in bytes.
func memlock(t testing.TB, o limiterObjects) (progs, maps uint64) {
	t.Helper()
	for _, id := range o.Progs {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := info.Memlock()
		progs += n
	}
	for _, id := range o.Maps {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := info.Memlock()
		maps += n
	}
	return progs, maps
}

// manyLimited creates n cgroups below a temporary parent, each with
// limits both ways through the public New, and returns them with the time
// each New took.
func manyLimited(t testing.TB, n int) ([]*Cgroup, []time.Duration) {
	t.Helper()
	parent := testutil.TempCgroup(t)
	cgs := make([]*Cgroup, 0, n)
	took := make([]time.Duration, 0, n)
	t.Cleanup(func() {
		for _, c := range cgs {
			c.Delete()
		}
	})
	r := Resources{Network: &Network{EgressRate: 1e12, IngressRate: 1e12}}
	for i := range n {
		start := time.Now()
		c, err := New(filepath.Join(parent, fmt.Sprintf("cg%d", i)), r)
		took = append(took, time.Since(start))
		if err != nil {
			t.Fatalf("creating limited cgroup %d: %v", i, err)
		}
		cgs = append(cgs, c)
	}
	return cgs, took
}

// deleteAll deletes cgs and checks that nothing of their limiters is left:
// no pin in the BPF filesystem at mnt, no program, no map.
func deleteAll(t testing.TB, mnt string, cgs []*Cgroup, objs []limiterObjects) time.Duration {
	t.Helper()
	start := time.Now()
	for i, c := range cgs {
		if err := c.Delete(); err != nil {
			t.Fatalf("deleting cgroup %d: %v", i, err)
		}
	}
	took := time.Since(start)
	if _, err := os.Stat(bpfpin.FS(mnt).Root()); !errors.Is(err, os.ErrNotExist) {
		left, _ := os.ReadDir(bpfpin.FS(mnt).Root())
		t.Fatalf("%d pin directories left after Delete (%v)", len(left), err)
	}
	// Programs and maps are freed from an RCU callback after the last
	// reference goes: give them a moment.
	deadline := time.Now().Add(5 * time.Second)
	for _, o := range objs {
		for left := o.Left(); len(left) > 0; left = o.Left() {
			if time.Now().After(deadline) {
				t.Fatalf("after Delete the kernel still has %v", left)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return took
}

// TestNetworkManyCgroups: 1000 limited cgroups are created through New,
// each with its own programs and maps, and Delete leaves no pin, program
// or map of any of them (about 1 ms per New and 0.3 ms per Delete here).
func TestNetworkManyCgroups(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	mnt := useBPFFS(t)
	cgs, took := manyLimited(t, 1000)
	objs := make([]limiterObjects, len(cgs))
	seen := map[ebpf.ProgramID]bool{}
	for i, c := range cgs {
		objs[i] = limiterObjectsOf(t, c)
		for _, id := range objs[i].Progs {
			if seen[id] {
				t.Fatalf("cgroup %d shares program %d with another cgroup", i, id)
			}
			seen[id] = true
		}
	}
	del := deleteAll(t, mnt, cgs, objs)
	slices.Sort(took)
	t.Logf("New with limits: median %v, max %v; Delete %v per cgroup", took[len(took)/2], took[len(took)-1], del/time.Duration(len(cgs)))
}

// BenchmarkNetworkScale is -bw.cgroups (1000) limited cgroups on one
// host:
//   - ms-new (median) and ms-new-p99: the time New takes for a cgroup with
//     limits both ways (mkdir, three programs loaded and verified, four
//     maps, three links, six pins);
//   - KiB-maps and KiB-progs per cgroup: the kernel's memory accounting
//     (fdinfo memlock) of its maps and programs;
//   - ns/pkt-1, ns/pkt-N-same, ns/pkt-N-rr: the egress program's run time
//     per packet by BPF_PROG_TEST_RUN (1400-byte IPv4/TCP packet, limit
//     never reached): of the first cgroup's program before the others
//     exist, of the same program with all N attached, and round-robin over
//     all N programs, one run each (each packet's program and maps cold,
//     as when N cgroups' packets interleave). One run per call includes
//     the test run's own per-call cost, so "ns/pkt-1-rr" is the first
//     program called the same way N times, the baseline for ns/pkt-N-rr;
//   - ns/pkt-1-rr-empty, ns/pkt-N-rr-empty: the same two round-robins
//     over empty programs ("return 1", no maps), to tell how much of the
//     cold cost is the programs' text rather than their maps;
//   - ms-delete: Delete per cgroup, after which nothing is left (checked).
//
// Run it with:
//
//	go test -run '^$' -bench BenchmarkNetworkScale -benchtime 1x ./cgroup/
func BenchmarkNetworkScale(b *testing.B) {
	testutil.RequireKernel(b, "5.12")
	mnt := useBPFFS(b)
	n := *bwCgroups
	cgs, took := manyLimited(b, 1)
	first := openEgress(b, limiterObjectsOf(b, cgs[0]))
	one := testRunNs(b, first, 100000)
	oneRR := roundRobinNs(b, slices.Repeat([]*ebpf.Program{first}, n))

	more, tookMore := manyLimited(b, n-1)
	cgs, took = append(cgs, more...), append(took, tookMore...)
	objs := make([]limiterObjects, n)
	progs := make([]*ebpf.Program, n)
	for i, c := range cgs {
		objs[i] = limiterObjectsOf(b, c)
		progs[i] = openEgress(b, objs[i])
	}
	same := testRunNs(b, first, 100000)
	rr := roundRobinNs(b, progs)
	// The same for n empty programs (no maps): what the programs' own
	// text costs when each run is another program's.
	empties := make([]*ebpf.Program, n)
	for i := range empties {
		empties[i] = emptySKB(b)
	}
	emptyOne := roundRobinNs(b, slices.Repeat(empties[:1], n))
	emptyRR := roundRobinNs(b, empties)
	pm, mm := memlock(b, objs[n-1])
	for _, p := range append(progs, first) { // they hold the programs
		p.Close()
	}
	del := deleteAll(b, mnt, cgs, objs)

	slices.Sort(took)
	b.ReportMetric(float64(took[n/2].Microseconds())/1e3, "ms-new")
	b.ReportMetric(float64(took[n*99/100].Microseconds())/1e3, "ms-new-p99")
	b.ReportMetric(float64(mm)/1024, "KiB-maps")
	b.ReportMetric(float64(pm)/1024, "KiB-progs")
	b.ReportMetric(one, "ns/pkt-1")
	b.ReportMetric(same, "ns/pkt-N-same")
	b.ReportMetric(oneRR, "ns/pkt-1-rr")
	b.ReportMetric(rr, "ns/pkt-N-rr")
	b.ReportMetric(emptyOne, "ns/pkt-1-rr-empty")
	b.ReportMetric(emptyRR, "ns/pkt-N-rr-empty")
	b.ReportMetric(float64(del.Microseconds())/1e3/float64(n), "ms-delete")
}

// emptySKB loads a cgroup_skb program that only returns 1, closed at
// cleanup.
func emptySKB(t testing.TB) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupSKB, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func openEgress(t testing.TB, o limiterObjects) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgramFromID(o.Progs[bwprog.Egress])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var scalePkt = func() []byte {
	pkt := make([]byte, 14+1400)
	pkt[12], pkt[14], pkt[14+9] = 0x08, 0x45, 6
	return pkt
}()

// testRunNs is the kernel's mean run time of p over repeat runs.
func testRunNs(t testing.TB, p *ebpf.Program, repeat int) float64 {
	t.Helper()
	_, d, err := p.Benchmark(scalePkt, repeat, nil)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	return float64(d.Nanoseconds())
}

// roundRobinNs runs each of progs once, in order, three times over, and
// returns the median per-run time the kernel reported.
func roundRobinNs(t testing.TB, progs []*ebpf.Program) float64 {
	t.Helper()
	var ns []float64
	for range 3 {
		for _, p := range progs {
			_, d, err := p.Benchmark(scalePkt, 1, nil)
			if err != nil {
				t.Fatalf("test run: %v", err)
			}
			ns = append(ns, float64(d.Nanoseconds()))
		}
	}
	return median(ns)
}
