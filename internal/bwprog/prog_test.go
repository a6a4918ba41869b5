package bwprog

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// TestLoad proves the verifier accepts both programs on this kernel.
func TestLoad(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireKernel(t, "5.12")
	if err := Supported(); err != nil {
		t.Fatal(err)
	}
}

// TestAtomicEncoding guards the hand-built atomics (see atomicDW).
func TestAtomicEncoding(t *testing.T) {
	var b bytes.Buffer
	if err := (asm.Instructions{fetchAdd(asm.R8, asm.R1, 8), cmpXchg(asm.R8, asm.R1, 0)}).
		Marshal(&b, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	want := []byte{0xdb, 0x18, 8, 0, 0x01, 0, 0, 0, 0xdb, 0x18, 0, 0, 0xf1, 0, 0, 0}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("encoded % x, want % x", b.Bytes(), want)
	}
}

// loadEgress creates maps holding cfg for egress and loads the egress
// program over them (insns, when given, replace its instructions); both
// are released at cleanup.
func loadEgress(t testing.TB, cfg Config, insns ...asm.Instruction) (*maps, *ebpf.Program) {
	t.Helper()
	m, err := newMaps()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.close() })
	if err := m.config.Update(uint32(Egress), cfg, 0); err != nil {
		t.Fatal(err)
	}
	ps := spec(Egress, &m)
	if len(insns) > 0 {
		ps.Instructions = insns
	}
	p, err := ebpf.NewProgram(ps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &m, p
}

// TestVirtualQueue runs the egress program (BPF_PROG_TEST_RUN) on a burst
// of 1400-byte IPv4 packets at 10 Mbit/s: the first pass within the burst,
// then they get congestion notification, then drops.
func TestVirtualQueue(t *testing.T) {
	ms, cost := requireRun10M(t)
	m, p := loadEgress(t, Config{CostPerByte: cost, BurstNs: 50 * ms,
		MarkNs: 100 * ms, DropNs: 200 * ms, SmallLen: 128, CeilNs: 200 * ms})
	pkt := make([]byte, 14+1400) // Ethernet header is stripped by the test run
	pkt[12], pkt[14], pkt[14+9] = 0x08, 0x45, protoTCP
	var seen [4]int
	var first [4]int
	start := time.Now()
	for i := range 400 { // 400 x 1.13 ms of line time within a few ms
		ret, err := p.Run(&ebpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatal(err)
		}
		if seen[ret] == 0 {
			first[ret] = i
		}
		seen[ret]++
	}
	elapsed := uint64(time.Since(start))
	st, err := m.stats(Egress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("returns %v first at %v, state %+v", seen, first, st)
	if seen[retPass] == 0 || seen[retPassCN] == 0 || seen[retDropCN] == 0 || seen[retDrop] != 0 {
		t.Fatalf("want pass, pass+CN and drop+CN, got %v", seen)
	}
	if !(first[retPass] < first[retPassCN] && first[retPassCN] < first[retDropCN]) {
		t.Fatalf("order pass < mark < drop violated: %v", first)
	}
	// The backlog never exceeds DropNs: passed bytes fit the line time of
	// burst + drop threshold + the time the loop took, plus one packet.
	if passed := (st.PassBytes * cost) >> CostShift; passed > 252*ms+elapsed {
		t.Fatalf("passed %d ns of line time in %d ns, want <= burst+drop+elapsed (+1 packet)", passed, elapsed)
	}
	if int(st.PassPackets) != seen[retPass]+seen[retPassCN] || int(st.DropPackets) != seen[retDropCN] {
		t.Fatalf("counters %+v disagree with returns %v", st, seen)
	}
}

// skbCtx is struct __sk_buff as BPF_PROG_TEST_RUN takes it (5.18+ layout,
// 192 bytes); only gso_segs is set.
type skbCtx [192]byte

// TestWireLen checks the wire size the programs charge: each segment of a
// GSO packet repeats the L3 and L4 headers, read from the packet, plus the
// Ethernet header; a plain packet adds only the Ethernet header.
func TestWireLen(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireKernel(t, "5.18")
	m, p := loadEgress(t, Config{})
	ipv4 := func(ihl int, proto byte, l4 []byte, n int) []byte {
		pkt := make([]byte, 14+n)
		pkt[12], pkt[13] = 0x08, 0x00
		pkt[14], pkt[14+9] = byte(0x40|ihl), proto
		copy(pkt[14+ihl*4:], l4)
		return pkt
	}
	ipv6 := func(proto byte, l4 []byte, n int) []byte {
		pkt := make([]byte, 14+n)
		pkt[12], pkt[13] = 0x86, 0xdd
		pkt[14], pkt[14+6] = 0x60, proto
		copy(pkt[14+40:], l4)
		return pkt
	}
	tcp := func(doff int) []byte { b := make([]byte, 20); b[12] = byte(doff << 4); return b }
	for _, c := range []struct {
		name string
		pkt  []byte
		segs uint32
		want uint64
	}{
		{"plain", ipv4(5, protoTCP, tcp(8), 1400), 0, 1400 + 14},
		{"one segment", ipv4(5, protoTCP, tcp(8), 1400), 1, 1400 + 14},
		{"ipv4 tcp options", ipv4(5, protoTCP, tcp(8), 3000), 3, 3000 + 3*14 + 2*(20+32)},
		{"ipv4 options", ipv4(6, protoTCP, tcp(5), 3000), 3, 3000 + 3*14 + 2*(24+20)},
		{"ipv6 tcp", ipv6(protoTCP, tcp(5), 3000), 4, 3000 + 4*14 + 3*(40+20)},
		{"ipv4 udp", ipv4(5, protoUDP, nil, 3000), 3, 3000 + 3*14 + 2*(20+8)},
		{"ipv4 other", ipv4(5, 47, nil, 3000), 2, 3000 + 2*14 + 1*20},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, err := m.stats(Egress)
			if err != nil {
				t.Fatal(err)
			}
			var ctx skbCtx
			binary.LittleEndian.PutUint32(ctx[skbGsoSegs:], c.segs)
			if _, err := p.Run(&ebpf.RunOptions{Data: c.pkt, Context: ctx}); err != nil {
				t.Fatal(err)
			}
			after, err := m.stats(Egress)
			if err != nil {
				t.Fatal(err)
			}
			if got := after.PassBytes - before.PassBytes; got != c.want {
				t.Fatalf("charged %d wire bytes, want %d", got, c.want)
			}
			if got, want := after.PassSegments-before.PassSegments, max(uint64(c.segs), 1); got != want {
				t.Fatalf("counted %d segments, want %d", got, want)
			}
		})
	}
}

// TestSmallFlood proves that small packets, which pass unmarked, are still
// held to the rate: a flood of 100-byte packets at 10 Mbit/s passes until
// the backlog reaches the ceiling and drops from then on.
func TestSmallFlood(t *testing.T) {
	ms, cost := requireRun10M(t)
	m, p := loadEgress(t, Config{CostPerByte: cost, BurstNs: 10 * ms,
		MarkNs: 2 * ms, DropNs: 4 * ms, SmallLen: 128, CeilNs: 30 * ms})
	pkt := make([]byte, 14+100)
	pkt[12], pkt[14], pkt[14+9] = 0x08, 0x45, protoUDP
	var seen [4]int
	start := time.Now()
	for range 2000 { // 2000 x 91 us of line time, sent within a few ms
		ret, err := p.Run(&ebpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatal(err)
		}
		seen[ret]++
	}
	elapsed := uint64(time.Since(start))
	st, err := m.stats(Egress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("returns %v in %v, counters %+v", seen, time.Duration(elapsed), st.Counters)
	if seen[retPass] == 0 || seen[retDropCN] == 0 || seen[retPassCN] != 0 || seen[retDrop] != 0 {
		t.Fatalf("want unmarked passes then drops, got %v", seen)
	}
	if passed := (st.PassBytes * cost) >> CostShift; passed > 40*ms+elapsed+91_000 {
		t.Fatalf("passed %d ns of line time in %d ns, want <= burst+ceiling+elapsed (+1 packet)", passed, elapsed)
	}
}

// TestSignalSpacing: with Config.SignalNs set, only the first packet beyond
// the mark threshold carries a congestion signal; the others within the
// interval pass unmarked, and drops of packets without a TCP socket (all
// packets of a test run) still notify.
func TestSignalSpacing(t *testing.T) {
	ms, cost := requireRun10M(t)
	_, p := loadEgress(t, Config{CostPerByte: cost, BurstNs: 50 * ms,
		MarkNs: 100 * ms, DropNs: 200 * ms, SmallLen: 128, CeilNs: 200 * ms,
		SignalNs: uint64(2 * time.Second)}) // the loop takes milliseconds
	pkt := make([]byte, 14+1400)
	pkt[12], pkt[14], pkt[14+9] = 0x08, 0x45, protoTCP
	var seen [4]int
	for range 400 {
		ret, err := p.Run(&ebpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatal(err)
		}
		seen[ret]++
	}
	t.Logf("returns %v", seen)
	if seen[retPassCN] != 1 || seen[retPass] < 200 || seen[retDropCN] == 0 || seen[retDrop] != 0 {
		t.Fatalf("want one pass+CN, passes beyond the mark, drops with CN; got %v", seen)
	}
}

// TestOtherDrop: packets of no TCP socket (every packet of a test run)
// drop beyond Config.OtherDropNs, not DropNs: a burst at 10 Mbit/s passes
// until the backlog reaches OtherDropNs, and never gets the marks that lie
// between there and DropNs.
func TestOtherDrop(t *testing.T) {
	ms, cost := requireRun10M(t)
	m, p := loadEgress(t, Config{CostPerByte: cost, BurstNs: 50 * ms,
		MarkNs: 100 * ms, DropNs: 200 * ms, SmallLen: 128, CeilNs: 200 * ms, OtherDropNs: 100 * ms})
	pkt := make([]byte, 14+1400)
	pkt[12], pkt[14], pkt[14+9] = 0x08, 0x45, protoUDP
	var seen [4]int
	start := time.Now()
	for range 400 {
		ret, err := p.Run(&ebpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatal(err)
		}
		seen[ret]++
	}
	elapsed := uint64(time.Since(start))
	st, err := m.stats(Egress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("returns %v, counters %+v", seen, st.Counters)
	if seen[retPass] == 0 || seen[retDropCN] == 0 || seen[retPassCN] != 0 || seen[retDrop] != 0 {
		t.Fatalf("want passes, then drops with CN and no marks, got %v", seen)
	}
	// Passed bytes fit burst + OtherDropNs + the loop's time, plus a packet.
	if passed := (st.PassBytes * cost) >> CostShift; passed > 152*ms+elapsed {
		t.Fatalf("passed %d ns of line time in %d ns, want <= burst+other+elapsed (+1 packet)", passed, elapsed)
	}
}

// TestOtherShare: with the shared queue held far beyond OtherDropNs (by
// TCP, say), packets of no TCP socket still pass on their guaranteed
// share: at OtherCostPerByte = 2 x CostPerByte, a burst passes until the
// share's own tail is OtherDropNs ahead, i.e. (burst + OtherDropNs) of
// line time at half the rate; without a share every packet drops.
func TestOtherShare(t *testing.T) {
	ms, cost := requireRun10M(t)
	for _, share := range []uint64{0, 2 * cost} {
		m, p := loadEgress(t, Config{CostPerByte: cost, BurstNs: 50 * ms, MarkNs: 100 * ms,
			DropNs: 200 * ms, SmallLen: 128, CeilNs: 200 * ms, OtherDropNs: 100 * ms, OtherCostPerByte: share})
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		var st [stSize / 8]uint64
		st[stTail/8] = uint64(ts.Nano()) + uint64(time.Second) // a full queue
		if err := m.state.Update(uint32(Egress), st, 0); err != nil {
			t.Fatal(err)
		}
		pkt := make([]byte, 14+1400)
		pkt[12], pkt[14], pkt[14+9] = 0x08, 0x45, protoUDP
		var seen [4]int
		for range 400 {
			ret, err := p.Run(&ebpf.RunOptions{Data: pkt})
			if err != nil {
				t.Fatal(err)
			}
			seen[ret]++
		}
		passed := seen[retPass] + seen[retPassCN]
		// 1400+14 wire bytes cost 1.13 ms, 2.26 ms on the share: 150 ms of
		// burst and threshold hold 66 of them (the loop takes a few ms more).
		t.Logf("share %d: returns %v", share, seen)
		if share == 0 && passed != 0 || share != 0 && (passed < 60 || passed > 75) {
			t.Errorf("share %d: %d passed, want %s", share, passed, map[bool]string{true: "0", false: "60-75"}[share == 0])
		}
	}
}

// requireRun10M skips where programs cannot be test-run (root and Linux
// 5.12 needed) and returns a millisecond in ns and the per-byte cost of
// 10 Mbit/s, the rate the program tests limit to.
func requireRun10M(t *testing.T) (ms, cost uint64) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireKernel(t, "5.12")
	return uint64(1e6), uint64(8e9<<CostShift) / 10e6
}

// TestCountFlow runs countFlow against a state map and flow records (array
// map values standing in for socket storage): a flow counts once per
// epoch, N is the larger of the current and the previous epoch's counts,
// the count moves to the previous epoch when the epoch turns, and is
// forgotten when a whole epoch went by without a packet.
func TestCountFlow(t *testing.T) {
	m, err := newMaps()
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	recs, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: flowValue, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer recs.Close()
	count := func(flow, epoch int32) uint32 {
		t.Helper()
		insns := asm.Instructions{asm.StoreImm(asm.RFP, fpKey, int64(Egress), asm.Word)}
		insns = append(insns, lookup(m.state)...)
		insns = append(insns,
			asm.StoreMem(asm.RFP, fpState, asm.R0, asm.DWord),
			asm.StoreImm(asm.RFP, fpKey, int64(flow), asm.Word))
		insns = append(insns, lookup(recs)...)
		insns = append(insns, asm.Mov.Reg(asm.R9, asm.R0), asm.Mov.Imm(asm.R1, epoch))
		insns = append(insns, countFlow(flowOff(Egress))...)
		p := returnR1(t, insns)
		defer p.Close()
		n, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, c := range []struct {
		flow, epoch int32
		want        uint32
	}{
		{0, 10, 1}, {1, 10, 2}, {0, 10, 2}, // each flow once per epoch
		{0, 11, 2}, {1, 11, 2}, // the turn keeps the last epoch's count
		{1, 12, 2}, {1, 13, 1}, // flow 0 went quiet: gone after one epoch
		{0, 15, 1}, // a quiet epoch between: the count is forgotten
	} {
		if got := count(c.flow, c.epoch); got != c.want {
			t.Errorf("step %d (flow %d, epoch %d): N = %d, want %d", i, c.flow, c.epoch, got, c.want)
		}
	}
	// The turn moves the count of flows beyond their share (countGreedy's)
	// with the other one, and forgets it after a quiet epoch.
	for _, c := range []struct {
		epoch int32
		want  uint64
	}{{16, 3}, {18, 0}} {
		var v [stSize / 8]uint64
		if err := m.state.Lookup(uint32(Egress), &v); err != nil {
			t.Fatal(err)
		}
		v[stGreedy/8], v[stGreedP/8] = 3, 9
		if err := m.state.Update(uint32(Egress), v, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
		count(0, c.epoch)
		if err := m.state.Lookup(uint32(Egress), &v); err != nil {
			t.Fatal(err)
		}
		if v[stGreedy/8] != 0 || v[stGreedP/8] != c.want {
			t.Errorf("turn to epoch %d: greedy counts %d/%d, want 0/%d", c.epoch, v[stGreedy/8], v[stGreedP/8], c.want)
		}
	}
}

// TestGreedyFlows runs greedyFlows, the pacing program's divisor, against
// state values written here: the larger of the current and the previous
// epoch's counts of flows beyond their share while the state is in the
// packet's epoch, the count of the epoch before when it has not turned yet,
// and 1 when it is older or nothing was counted.
func TestGreedyFlows(t *testing.T) {
	requireRun10M(t)
	m, err := newMaps()
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	insns := asm.Instructions{asm.StoreImm(asm.RFP, fpKey, int64(Egress), asm.Word)}
	insns = append(insns, lookup(m.state)...)
	insns = append(insns, asm.Mov.Reg(asm.R9, asm.R0), asm.Mov.Imm(asm.R0, 10))
	insns = append(insns, greedyFlows()...)
	p := returnR1(t, insns)
	defer p.Close()
	for _, c := range []struct {
		epoch, greedy, prev uint64
		want                uint32
	}{
		{10, 3, 5, 5}, {10, 6, 5, 6}, {10, 0, 0, 1}, // this epoch: the larger count
		{9, 4, 7, 4}, {9, 0, 7, 1}, // not turned yet: this epoch's count becomes the last
		{8, 4, 7, 1}, {11, 4, 7, 1}, // older (or from a later epoch): one flow
	} {
		var v [stSize / 8]uint64
		v[stEpoch/8], v[stGreedy/8], v[stGreedP/8] = c.epoch, c.greedy, c.prev
		// Flow counts of all flows must not matter.
		v[stFlows/8], v[stFlowsP/8] = 20, 20
		if err := m.state.Update(uint32(Egress), v, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
		n, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
		if err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("state epoch %d, counts %d/%d, packet in epoch 10: N = %d, want %d", c.epoch, c.greedy, c.prev, n, c.want)
		}
	}
}

// returnR1 loads insns as a socket filter that returns R1 after them
// (0 from pass_raw, where a lookup found nothing), for test runs of a
// piece of the programs.
func returnR1(t *testing.T, insns asm.Instructions) *ebpf.Program {
	t.Helper()
	insns = append(insns, asm.Mov.Reg(asm.R0, asm.R1), asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("pass_raw"), asm.Return())
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
