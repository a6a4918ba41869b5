package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

func init() {
	// The demo re-executes itself; in the test binary the roles land here.
	if os.Getenv(roleEnv) != "" {
		os.Exit(dispatch(os.Args[1:], os.Stdout))
	}
}

// TestDemo runs the demo for 3 s at 20 Mbit/s and checks it printed one
// line per second and the rate in its last second is near the ideal.
func TestDemo(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireUnified(t)
	testutil.RequireKernel(t, "5.12")
	var out bytes.Buffer
	if code := dispatch([]string{"-rate", "20mbit", "-seconds", "3"}, &out); code != 0 {
		t.Fatalf("exit %d, output:\n%s", code, out.String())
	}
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "ideal goodput 19.13 Mbit/s") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	var sec int
	var mbit, pct float64
	if _, err := fmtSscanf(lines[3], &sec, &mbit, &pct); err != nil {
		t.Fatal(err)
	}
	if pct < 80 || pct > 110 {
		t.Errorf("last second at %.1f%% of ideal, want 80-110%%", pct)
	}
}

func fmtSscanf(line string, sec *int, mbit, pct *float64) (int, error) {
	return fmt.Sscanf(strings.ReplaceAll(line, "%", ""), "%ds %f Mbit/s %f", sec, mbit, pct)
}
