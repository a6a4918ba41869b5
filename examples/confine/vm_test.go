package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// Tier 3: inside the VM every controller exists. The VM has no Go
// toolchain, so the CLI runs in-process: the test binary re-executes itself
// as the "confine" helper (run(args)), and as the sandboxed command too
// (testutil's alloc and spin helpers).

// vmConfine runs `confine ARGS...` through the helper.
func vmConfine(t *testing.T, args ...string) (result, map[string]any) {
	t.Helper()
	cmd := testutil.HelperCommand(t, "confine", args...)
	cmd.Dir = "/"
	r := runCmd(t, cmd)
	var stats map[string]any
	for _, a := range args {
		if a == "--stats" {
			if err := json.Unmarshal([]byte(lastLine(r.stderr)), &stats); err != nil {
				t.Fatalf("--stats: %v in %q", err, r.stderr)
			}
		}
	}
	return r, stats
}

// selfHelper is the arguments that run this test binary's helper name
// inside the sandbox.
func selfHelper(t *testing.T, name string, args ...string) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"-e", testutil.EnvHelper + "=" + name, "--", exe}, args...)
}

func number(t *testing.T, stats map[string]any, key string) float64 {
	t.Helper()
	v, ok := stats[key].(float64)
	if !ok {
		t.Fatalf("%s: %v, want a number", key, stats[key])
	}
	return v
}

func TestVMMemoryLimitOOM(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	args := append([]string{"run", "--memory", "32m", "--stats"}, selfHelper(t, "alloc", "128")...)
	r, stats := vmConfine(t, args...)
	if r.code != exitOOM || !strings.Contains(r.stderr, "confine: killed by the OOM killer (memory limit 32MiB)\n") {
		t.Fatalf("want 137 and the OOM message, got %d %q", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "done") {
		t.Fatal("the 128 MiB allocation completed")
	}
	// The kernel charges a page or so before it reclaims or kills.
	if peak := number(t, stats, "memory_peak_bytes"); peak > 33<<20 || peak < 16<<20 {
		t.Errorf("memory_peak_bytes %v, want near the 32 MiB limit", peak)
	}
	if number(t, stats, "oom_kills") < 1 {
		t.Error("oom_kills is 0")
	}
	// The same allocation fits in 256 MiB.
	args = append([]string{"run", "--memory", "256m"}, selfHelper(t, "alloc", "128")...)
	if r, _ := vmConfine(t, args...); r.code != 0 || !strings.Contains(r.stdout, "done") {
		t.Fatalf("128 MiB in a 256 MiB sandbox: exit %d", r.code)
	}
}

func TestVMCPULimit(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "cpu")
	args := append([]string{"run", "--cpus", "0.5", "--stats"}, selfHelper(t, "spin", "4")...)
	r, stats := vmConfine(t, args...)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	usage, wall := number(t, stats, "cpu_usage_usec"), number(t, stats, "wall_ms")*1000
	// Half a core: the kernel enforces 50 ms per 100 ms period; the slack
	// is for start-up outside the spin and TCG's coarse clock.
	if ratio := usage / wall; ratio < 0.3 || ratio > 0.65 {
		t.Errorf("used %.0f µs of CPU in %.0f µs: %.2f cores, want about 0.5", usage, wall, ratio)
	}
	if number(t, stats, "cpu_throttled_usec") <= 0 {
		t.Error("cpu_throttled_usec is 0 for a hog held to half a core")
	}
}

func TestVMPidsLimit(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "pids")
	r, stats := vmConfine(t, "run", "--pids-limit", "6", "--stats", "--", "sh", "-c",
		"for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; wait")
	if !strings.Contains(strings.ToLower(r.stderr), "fork") && !strings.Contains(r.stderr, "Resource temporarily unavailable") {
		t.Errorf("no fork failure reported with --pids-limit 6: %q", r.stderr)
	}
	if peak := number(t, stats, "pids_peak"); peak > 6 || peak < 2 {
		t.Errorf("pids_peak %v, want at most the limit 6", peak)
	}
}

func TestVMStatsMeasured(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	r, stats := vmConfine(t, "run", "--memory", "64m", "--pids-limit", "50", "--cpus", "1", "--stats", "--",
		"ping", "-c", "2", "-i", "0.2", "127.0.0.1")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	// Without a rate the limiter's programs only count: the pings' bytes.
	if number(t, stats, "net_tx_bytes") < 2*84 || number(t, stats, "net_dropped_packets") != 0 {
		t.Errorf("want the two pings counted, none dropped: %v", stats)
	}
	for _, k := range []string{"cpu_usage_usec", "cpu_throttled_usec", "memory_peak_bytes", "oom_kills", "pids_peak", "io_read_bytes", "io_write_bytes",
		"net_tx_bytes", "net_rx_bytes", "net_delayed_packets", "net_dropped_packets"} {
		number(t, stats, k) // every controller exists here: no nulls
	}
}

func TestVMDeviceWriteBps(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "io")
	if _, err := os.Stat("/dev/nullb0"); err != nil {
		t.Fatalf("the VM loads null_blk: %v", err)
	}
	// 2 MiB of direct writes at 1 MiB/s; --device grants access, the
	// limit alone would not.
	r, stats := vmConfine(t, "run", "--device", "/dev/nullb0", "--device-write-bps", "/dev/nullb0:1mb", "--stats", "--",
		"sh", "-c", "read a x < /proc/uptime; dd if=/dev/zero of=/dev/nullb0 bs=64k count=32 oflag=direct 2>/dev/null; "+
			"read b x < /proc/uptime; echo $a $b | awk '{print $2-$1}'")
	secs, err := strconv.ParseFloat(strings.TrimSpace(r.stdout), 64)
	if r.code != 0 || err != nil {
		t.Fatalf("exit %d, %q", r.code, r.stdout)
	}
	if secs < 1.5 || secs > 6 {
		t.Errorf("2 MiB at 1 MiB/s took %.2f s", secs)
	}
	if w := number(t, stats, "io_write_bytes"); w < 2<<20 {
		t.Errorf("io_write_bytes %v, want >= 2 MiB", w)
	}
	// Without --device the node is not in the sandbox's fresh /dev; with
	// read access only, the device program refuses the write.
	r, _ = vmConfine(t, "run", "--", "sh", "-c", "test -b /dev/nullb0")
	if r.code == 0 {
		t.Errorf("/dev/nullb0 exists in the sandbox without --device")
	}
	r, _ = vmConfine(t, "run", "--device", "/dev/nullb0:r", "--", "sh", "-c", "dd if=/dev/zero of=/dev/nullb0 bs=4k count=1 2>&1")
	if r.code == 0 || !strings.Contains(r.stdout, "Operation not permitted") {
		t.Errorf("/dev/nullb0 written with --device /dev/nullb0:r: exit %d %q", r.code, r.stdout)
	}
}

// TestVMDemo runs `confine demo` (what `make demo` shows): every scene
// must behave as it says. Its `confine run` children are this test binary
// too, through the inherited helper variable.
func TestVMDemo(t *testing.T) {
	testutil.RequireVM(t)
	r, _ := vmConfine(t, "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "every limit held") {
		t.Fatalf("demo: exit %d", r.code)
	}
}
