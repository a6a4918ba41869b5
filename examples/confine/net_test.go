package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// transferScript serves mib MiB with busybox httpd on the sandbox's own
// loopback, downloads it with wget and prints the seconds it took.
func transferScript(bb string, mib int) []string {
	return []string{bb, "sh", "-c", "mkdir /tmp/w && " + bb + " dd if=/dev/zero of=/tmp/w/f bs=64k count=" + strconv.Itoa(16*mib) + " 2>/dev/null && " +
		bb + " httpd -p 127.0.0.1:8080 -h /tmp/w && read a x < /proc/uptime; " +
		bb + " wget -q -O /dev/null http://127.0.0.1:8080/f && read b x < /proc/uptime && " +
		"echo $a $b | " + bb + " awk '{print $2-$1}'"}
}

// checkRate checks the download of mib MiB took about as long as the
// limit allows: at most 15% faster and not absurdly slow. A transfer can
// finish ahead of the rate by the burst credit plus the virtual queue's
// backlog at its end, up to the ceiling of about 0.4 s of line time that
// lets a socket with nothing in flight send (see cgroup's limiter
// tuning): 8 MiB at 32 mbit/s (2.1 s) can then measure 18% fast under a
// congestion control that ignores the limiter's signals, as BBR, the
// default of some hosts, does; 24 MiB (6.3 s) stays within 7%.
func checkRate(t *testing.T, r result, limitMbit float64, mib int) float64 {
	t.Helper()
	secs, err := strconv.ParseFloat(strings.TrimSpace(r.stdout), 64)
	if r.code != 0 || err != nil || secs <= 0 {
		t.Fatalf("transfer failed: exit %d, %q", r.code, r.stdout)
	}
	mbit := float64(mib) * 1.048576 * 8 / secs
	t.Logf("%d MiB in %.2f s = %.1f mbit/s under a %.0f mbit/s limit", mib, secs, mbit, limitMbit)
	if mbit > limitMbit*1.15 || mbit < limitMbit*0.3 {
		t.Errorf("%d MiB in %.2f s = %.1f mbit/s under a %.0f mbit/s limit", mib, secs, mbit, limitMbit)
	}
	return mbit
}

// TestEgressRate (tier 2): without fq on this host the limiter runs in its
// virtual-queue mode; the sandbox's downloads are held to the rate.
func TestEgressRate(t *testing.T) {
	bb := testutil.RequireCommand(t, "busybox")
	const mib = 24
	args := append([]string{"run", "--egress-rate", "32mbit", "--tmpfs", "/tmp", "--stats", "--"}, transferScript(bb, mib)...)
	r := confine(t, args...)
	checkRate(t, r, 32, mib)
	if !strings.Contains(lastLine(r.stderr), `"net_tx_bytes":25`) {
		t.Errorf("want about 25.2 MB counted as sent: %s", lastLine(r.stderr))
	}
}

// TestVMEgressRateEDT: the VM kernel has sch_fq, so confine installs fq on
// the sandbox's lo and the limiter paces by departure time: packets are
// delayed, none dropped.
func TestVMEgressRateEDT(t *testing.T) {
	testutil.RequireVM(t)
	args := append([]string{"run", "--egress-rate", "32mbit", "--tmpfs", "/tmp", "--stats", "--"}, transferScript("/bin/busybox", 8)...)
	r, stats := vmConfine(t, args...)
	checkRate(t, r, 32, 8)
	if number(t, stats, "net_delayed_packets") == 0 || number(t, stats, "net_dropped_packets") != 0 {
		t.Errorf("want EDT pacing (delayed > 0, dropped 0): %v", stats)
	}
}
