package bwprog

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

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

// TestVirtualQueue runs the egress program (BPF_PROG_TEST_RUN) on a burst
// of 1400-byte IPv4 packets at 10 Mbit/s: the first pass within the burst,
// then they get congestion notification, then drops.
func TestVirtualQueue(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireKernel(t, "5.12")
	config, state, err := newMaps()
	if err != nil {
		t.Fatal(err)
	}
	defer config.Close()
	defer state.Close()
	ms := uint64(1e6)
	cost := uint64(8e9<<CostShift) / 10e6
	if err := config.Update(uint32(Egress), Config{CostPerByte: cost, BurstNs: 50 * ms,
		MarkNs: 100 * ms, DropNs: 200 * ms, SmallLen: 128, CeilNs: 200 * ms}, 0); err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgram(spec(Egress, config, state))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
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
	var st State
	if err := state.Lookup(uint32(Egress), &st); err != nil {
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
