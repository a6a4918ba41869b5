package cgroup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// envBwCC names the congestion control a bwclient child's bulk sockets
// use (bed.cc).
const envBwCC = "CONFINE_BW_CC"

// envBwTrace, when set in the test's environment, makes the bulk sender
// print its tcp_info (cwnd, srtt, pacing rate, delivery rate) to stderr
// every 100 ms: a diagnostic for how a congestion control reacts to the
// limiter.
const envBwTrace = "CONFINE_BW_TRACE"

// dialCC connects to addr with congestion control cc ("" for the
// namespace's default). It is set before connect so that a congestion
// control that needs ECN (DCTCP) negotiates it on the SYN.
func dialCC(addr, cc string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		if cc == "" {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
		})
		if err == nil && serr != nil {
			err = fmt.Errorf("setting TCP_CONGESTION %s: %w", cc, serr)
		}
		return err
	}}
	return d.DialContext(context.Background(), "tcp4", addr)
}

// setListenerCC sets the congestion control of ln's socket, which the
// connections it accepts inherit, until the test ends.
func setListenerCC(t *testing.T, ln net.Listener, cc string) {
	t.Helper()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	set := func(v string) (old string, err error) {
		cerr := rc.Control(func(fd uintptr) {
			if old, err = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION); err == nil {
				err = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, v)
			}
		})
		return old, errors.Join(cerr, err)
	}
	old, err := set(cc)
	if err != nil {
		t.Fatalf("setting the listener's congestion control to %s: %v", cc, err)
	}
	t.Cleanup(func() {
		if _, err := set(old); err != nil {
			t.Errorf("restoring the listener's congestion control %s: %v", old, err)
		}
	})
}

// traceTCP starts the envBwTrace sampler on c; the returned func stops it.
func traceTCP(c net.Conn) (stop func()) {
	if os.Getenv(envBwTrace) == "" {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			i, err := tcpInfo(c)
			if err != nil {
				return
			}
			fmt.Fprintf(os.Stderr, "trace %5dms ca_state %d cwnd %d ssthresh %d srtt %dus pacing %.1fMbit/s delivery %.1fMbit/s retrans %d\n",
				time.Since(start).Milliseconds(), i.Ca_state, i.Snd_cwnd, i.Snd_ssthresh, i.Rtt,
				float64(i.Pacing_rate)*8/1e6, float64(i.Delivery_rate)*8/1e6, i.Total_retrans)
		}
	}()
	return func() { close(done); <-finished }
}

// availableCC reports whether the kernel offers congestion control cc to
// a root socket (tcp_available_congestion_control lists the built-in and
// loaded ones; root may use any of them, not only the allowed ones).
func availableCC(cc string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
	if err != nil {
		return false
	}
	return slices.Contains(strings.Fields(string(b)), cc)
}

// requireCC loads cc's module where it is not loaded yet, and skips where
// the kernel has none: a host property (this project's hosts have no
// tcp_dctcp), so the claim is proven in the VM, whose kernel ships it.
func requireCC(t testing.TB, cc string) {
	t.Helper()
	if !availableCC(cc) {
		_ = exec.Command("modprobe", "tcp_"+cc).Run()
	}
	if !availableCC(cc) {
		testutil.SkipHost(t, "TestVMNetworkGoodputCC", "congestion control %s not available on this kernel", cc)
	}
}

// Bounds of limitedWindow.corrected in TestNetworkGoodputCC. Above: the
// ideal plus 2% for the sink's reads lagging the window's edges (the
// socket's receive queue). Below: 10% of line time the loaded 2-core host
// may not run the sender or the sink in (load averages of 9 were seen
// while these were measured). In nine runs BBR read 99.9-100.0%, reno
// 95.6-98.8%, cubic 92.8-100.0%: cubic still lets the link idle a little
// (an open item of issue 16); the starvation of issue 16 read 72-73%.
const corrLow, corrHigh = 0.90, 1.02

// ccSlack is the honest tolerance of a goodput read over window from a
// virtual-queue limiter with settings c: the bytes passed in a window are
// its line time plus the change of the virtual backlog, which lies between
// -BurstNs (idle credit) and CeilNs (a TCP socket with nothing in flight
// passes up to there, see bwprog's idleTCP). Low adds 5% for a sender or
// sink that this loaded 2-core host does not run in time (lost line time
// a limiter cannot give back); high adds 1% for the sink's reads lagging
// the window's edges.
func ccSlack(c bwprog.Config, window time.Duration) (low, high float64) {
	s := float64(c.CeilNs+c.BurstNs) / float64(window)
	return 1 - s - 0.05, 1 + s + 0.01
}

// limitedWindow is a goodput reading of a limited cgroup together with
// the change of its egress virtual backlog over the same window.
type limitedWindow struct {
	goodput float64       // bytes/s the sink's TCP stack received (bed.delivered)
	read    float64       // bytes/s the sink goroutine read: lags goodput on a loaded host
	window  time.Duration // measured length
	backlog time.Duration // backlog at the end minus at the start
}

// ratio is goodput over the ideal at rate.
func (w limitedWindow) ratio(rate uint64) float64 { return w.goodput / idealGoodput(rate) }

// corrected is ratio with the backlog change taken out: the bytes passed
// in a window are the line time of the window plus the change of the
// backlog, so this is what the limiter gave over the line time it
// accounted for. A sender that let the link idle (credit lost beyond the
// burst) reads low here; a backlog that merely moved does not.
func (w limitedWindow) corrected(rate uint64) float64 {
	return w.ratio(rate) * w.window.Seconds() / (w.window + w.backlog).Seconds()
}

// measureLimited is measure for a cgroup limited by c, reading its egress
// backlog (the shared tail minus CLOCK_MONOTONIC, the programs' clock) at
// the window's edges.
func (b *bed) measureLimited(t testing.TB, c *Cgroup, tag byte, from, to time.Duration) limitedWindow {
	t.Helper()
	dir, err := c.networkPinDir()
	if err != nil {
		t.Fatal(err)
	}
	l, err := bwprog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	backlog := func() time.Duration {
		s, err := l.Stats(bwprog.Egress)
		if err != nil {
			t.Fatal(err)
		}
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		return time.Duration(int64(s.Tail) - ts.Nano())
	}
	ctr := &b.received[tag-'A']
	start := time.Now()
	time.Sleep(from)
	r0, n0, b0, t0 := ctr.Load(), b.delivered(tag), backlog(), time.Now()
	time.Sleep(to - time.Since(start))
	r1, n1, b1, t1 := ctr.Load(), b.delivered(tag), backlog(), time.Now()
	// A backlog below -BurstNs is an idle limiter: its tail restarts at
	// now-burst on the next packet, so that is the backlog it stands for.
	burst := time.Duration(dirConfigOf(t, l).BurstNs)
	b0, b1 = max(b0, -burst), max(b1, -burst)
	secs := t1.Sub(t0).Seconds()
	return limitedWindow{goodput: float64(n1-n0) / secs, read: float64(r1-r0) / secs,
		window: t1.Sub(t0), backlog: b1 - b0}
}

func dirConfigOf(t testing.TB, l *bwprog.Limiter) bwprog.Config {
	t.Helper()
	c, err := l.Config(bwprog.Egress)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNetworkGoodputCC is issue 16: the limiter (virtual-queue mode) holds
// its rate whatever congestion control the sender uses. Each bulk socket
// sets its own (TCP_CONGESTION): cubic, the default of stock
// distributions, which obeys every congestion signal (signalled per packet
// it got 73% of 100 Mbit/s); reno; BBR, this host's default, which ignores
// them; DCTCP with ECN where the kernel has it (the VM). Goodput is read
// over 8 s from 1.5 s on, twice: as the sink saw it, within ccSlack
// (91-105% at 100 Mbit/s, 87-107% at 10 Mbit/s), and with the backlog
// change taken out (limitedWindow.corrected), within corrLow..corrHigh.
// The starvation this test guards against read 72-73% at 100 Mbit/s. 1
// Gbit/s is left to BenchmarkNetworkAccuracy, where tbf runs beside it:
// on this loaded host a 1 Gbit/s sender is CPU-bound often enough (cubic
// read 90% twice in three runs at a load average of 9) that a fixed bound
// would flake; so is the tight 97-101% claim over 10 s.
func TestNetworkGoodputCC(t *testing.T) {
	goodputCC(t, []ccCase{{"cubic", 100e6}, {"reno", 100e6}, {"bbr", 100e6}, {"dctcp", 100e6}, {"cubic", 10e6}})
}

// TestVMNetworkGoodputCC covers DCTCP with ECN, which the host kernels of
// this project lack, in the VM (virtual-queue mode: no fq on the bed's
// veth), at a rate TCG sustains, beside cubic and BBR.
func TestVMNetworkGoodputCC(t *testing.T) {
	testutil.RequireVM(t)
	goodputCC(t, []ccCase{{"dctcp", 10e6}, {"cubic", 10e6}, {"bbr", 10e6}})
}

type ccCase struct {
	cc   string
	rate uint64
}

func goodputCC(t *testing.T, cases []ccCase) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const window = 8 * time.Second
	for _, tc := range cases {
		t.Run(tc.cc+"-"+FormatRate(tc.rate), func(t *testing.T) {
			requireCC(t, tc.cc)
			b.cc = tc.cc
			defer func() { b.cc = "" }()
			if tc.cc == "dctcp" {
				// A DCTCP SYN is ECN-capable itself, and a listener then
				// grants ECN only if its own congestion control needs it
				// (tcp_ecn_create_request): both ends run DCTCP.
				setListenerCC(t, b.ln, tc.cc)
			}
			c := limitedCgroup(t, &Network{EgressRate: tc.rate})
			cl := b.startClient(t, c.path, 'A', (window + 2*time.Second).Seconds(), 0)
			w := b.measureLimited(t, c, 'A', 1500*time.Millisecond, 1500*time.Millisecond+window)
			res := cl.wait(t)
			st, err := networkStatsOf(c)
			if err != nil {
				t.Fatal(err)
			}
			ratio, corr := w.ratio(tc.rate), w.corrected(tc.rate)
			low, high := ccSlack(dirConfig(tc.rate, 0, false), window)
			t.Logf("%s: %.2f%% of ideal (want %.1f-%.1f%%; the sink read %.2f%%), %.2f%% without the backlog change of %v (want %.0f-%.0f%%); ecn %v segs %d retrans %d; egress %+v",
				tc.cc, 100*ratio, 100*low, 100*high, 100*w.read/idealGoodput(tc.rate), 100*corr, w.backlog, 100*corrLow, 100*corrHigh,
				res.ECN, res.Segs, res.Retrans, st.Egress)
			if ratio < low || ratio > high {
				t.Errorf("%s at %s: goodput %.1f%% of ideal, want %.1f-%.1f%%",
					tc.cc, FormatRate(tc.rate), 100*ratio, 100*low, 100*high)
			}
			if corr < corrLow || corr > corrHigh {
				t.Errorf("%s at %s: goodput %.1f%% of the line time accounted, want %.0f-%.0f%%",
					tc.cc, FormatRate(tc.rate), 100*corr, 100*corrLow, 100*corrHigh)
			}
			if tc.cc == "dctcp" && !res.ECN {
				t.Error("dctcp connection did not negotiate ECN")
			}
			if res.Segs == 0 || res.Retrans*1000 > res.Segs {
				t.Errorf("%d retransmits of %d segments, want < 0.1%%", res.Retrans, res.Segs)
			}
		})
	}
}
