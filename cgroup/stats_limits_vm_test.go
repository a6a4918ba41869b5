package cgroup

import (
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

// TestVMStatLimits: what Apply wrote is what StatLimits reads back from
// the kernel's files, swap accounting included.
func TestVMStatLimits(t *testing.T) {
	testutil.RequireVM(t)
	cg := vmCgroup(t, "limits", Resources{CPU: &CPU{Max: &CPUMax{Quota: 30 * time.Millisecond, Period: 120 * time.Millisecond}},
		Memory: &Memory{Max: 48 << 20, Swap: 16 << 20}, Pids: &Pids{Max: 21}})
	s := stats(t, cg, StatLimits)
	want := LimitStats{CPUQuotaUsec: 30000, CPUPeriodUsec: 120000, MemoryMax: 48 << 20, SwapMax: 16 << 20, PidsMax: 21}
	if s.Limits != want {
		t.Errorf("limits read back %+v, want %+v", s.Limits, want)
	}
	if err := cg.Apply(Resources{Memory: &Memory{Max: Unlimited}, Pids: &Pids{Max: Unlimited}}); err != nil {
		t.Fatal(err)
	}
	s = stats(t, cg, StatMemoryMax|StatPidsMax)
	if s.Limits.MemoryMax != 1<<64-1 || s.Limits.PidsMax != 1<<64-1 {
		t.Errorf("unlimited read back as %+v", s.Limits)
	}
}
