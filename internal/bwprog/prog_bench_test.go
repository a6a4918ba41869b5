package bwprog

import (
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/confinelab/confine/internal/testutil"
)

// BenchmarkProgram is the limiter's run time per packet, without the
// network stack around it: the egress program run by BPF_PROG_TEST_RUN on
// a 1400-byte IPv4/TCP packet, at a limit it never reaches (every charge,
// atomic and threshold test runs; nothing is dropped) and with no limit
// (count only), next to an empty program ("return 1": what the test run
// itself costs per run). ns/op is the kernel's own per-run time.
//
//	go test -run '^$' -bench BenchmarkProgram ./internal/bwprog/
func BenchmarkProgram(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireKernel(b, "5.12")
	for _, bc := range []struct {
		name  string
		cfg   Config
		empty bool
	}{
		{"limited", Config{CostPerByte: uint64(8e9) << CostShift / 1e12, BurstNs: 1e9,
			MarkNs: 1e9, DropNs: 2e9, SmallLen: 128, CeilNs: 2e9}, false},
		{"count-only", Config{}, false},
		{"empty", Config{}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var insns asm.Instructions
			if bc.empty {
				insns = asm.Instructions{asm.Mov.Imm(asm.R0, retPass), asm.Return()}
			}
			_, p := loadEgress(b, bc.cfg, insns...)
			pkt := make([]byte, 14+1400)
			pkt[12], pkt[14], pkt[14+9] = 0x08, 0x45, protoTCP
			ret, per, err := p.Benchmark(pkt, b.N, nil)
			if err != nil {
				b.Fatal(err)
			}
			if ret != retPass {
				b.Fatalf("program returned %d, want pass", ret)
			}
			b.ReportMetric(float64(per.Nanoseconds()), "ns/pkt")
		})
	}
}
