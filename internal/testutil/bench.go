package testutil

import (
	"slices"
	"testing"
	"time"
)

// Run is one contender of Interleave: a name for its metrics and one
// timed operation.
type Run struct {
	Name string
	Once func() error
}

// Interleave times each of runs once per iteration, in an order that
// rotates, so that a busy host slows them alike, and reports the median of
// each ("NAME-ms") and the first one's ratio to each other ("x-NAME"),
// the numbers to compare; ns/op is set to 0 (it would sum them all).
func Interleave(b *testing.B, runs []Run) {
	b.Helper()
	times := make([][]time.Duration, len(runs))
	for _, r := range runs { // warm caches; fail early
		if err := r.Once(); err != nil {
			b.Fatalf("%s: %v", r.Name, err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range runs {
			k := (i + j) % len(runs)
			t0 := time.Now()
			if err := runs[k].Once(); err != nil {
				b.Fatalf("%s: %v", runs[k].Name, err)
			}
			times[k] = append(times[k], time.Since(t0))
		}
	}
	b.StopTimer()
	med := make([]float64, len(runs))
	for k, r := range runs {
		slices.Sort(times[k])
		med[k] = float64(times[k][len(times[k])/2].Microseconds()) / 1000
		b.ReportMetric(med[k], r.Name+"-ms")
	}
	for k := 1; k < len(runs); k++ {
		b.ReportMetric(med[0]/med[k], "x-"+runs[k].Name)
	}
	b.ReportMetric(0, "ns/op")
}
