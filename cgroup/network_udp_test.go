package cgroup

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// Traffic that ignores congestion signals: a UDP flood from (egress) or to
// (ingress) a limited cgroup. The bed's UDP sink in "srv" counts datagrams
// by their first byte, like the TCP sink; the bwclient child floods with
// tag 'u' and receives with tag 'U' (on bedCliIP:bedPort); floodUDP floods
// the child from "srv".

const (
	udpPayload = 1400
	udpWire    = udpPayload + 8 + 20 + 14 // UDP, IPv4, Ethernet
	udpTag     = 'U'                      // first byte of the child's datagrams
	udpRcvBuf  = 8 << 20                  // seconds of data at the rates tested
)

// idealUDPGoodput is what a perfect limiter of rate bits/s passes of a
// flood of udpPayload datagrams, in payload bytes/s.
func idealUDPGoodput(rate uint64) float64 {
	return float64(rate) / 8 * udpPayload / udpWire
}

// startUDPSink listens on bedSrvIP:bedPort/udp in srv and counts each
// datagram's bytes in received[first byte].
func (b *bed) startUDPSink(t testing.TB) {
	t.Helper()
	var pc net.PacketConn
	err := inNetns(b.srvNS, func() (err error) {
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(bedSrvIP, strconv.Itoa(bedPort)))
		return err
	})
	if err != nil {
		t.Fatalf("listening on udp: %v", err)
	}
	if err := forceRcvBuf(pc); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n > 0 && buf[0] >= 'A' && buf[0] <= 'Z' {
				b.received[buf[0]-'A'].Add(uint64(n))
			}
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
}

// udpClient is the bwclient child's UDP side: with tag 'u' it floods
// bedSrvIP with udpPayload datagrams as fast as the socket takes them
// until deadline; with 'U' it receives on bedCliIP:bedPort, printing "rx
// NS BYTES" every 100 ms. The "done" line's sent is the bytes the socket
// accepted, segs the datagrams, retrans the sends refused (ENOBUFS: the
// limiter's drop with congestion notification).
func udpClient(addr string, tag byte, deadline time.Time) (string, error) {
	if tag == 'U' {
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(bedCliIP, strconv.Itoa(bedPort)))
		if err != nil {
			return "", err
		}
		defer pc.Close()
		if err := forceRcvBuf(pc); err != nil {
			return "", err
		}
		fmt.Println("ready")
		receive(udpReader{pc}, deadline)
		return "done sent=0 segs=0 retrans=0 ecn=0", nil
	}
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, udpPayload)
	buf[0] = udpTag
	var sent, pkts, refused uint64
	runtime.LockOSThread() // the stall meter reads this thread's
	m := newStallMeter()
	defer m.close()
	for time.Now().Before(deadline) {
		for range 64 {
			n, err := c.Write(buf)
			if err != nil {
				refused++
				continue
			}
			sent, pkts = sent+uint64(n), pkts+1
		}
		m.tick()
	}
	for _, st := range m.stalls {
		fmt.Printf("stall %d %d\n", st.At.Nanoseconds(), st.Len.Nanoseconds())
	}
	return fmt.Sprintf("done sent=%d segs=%d retrans=%d ecn=0", sent, pkts, refused), nil
}

// stall is a time a flooding thread was ready to run and not run: from At
// (since the meter started) on, for Len in all.
type stall struct{ At, Len time.Duration }

// minStall is the shortest wait a stallMeter records: far below any
// limiter's burst, far above the scheduler's usual latency.
const minStall = time.Millisecond

// stallMeter records when the calling thread (locked to its goroutine)
// waited on a runqueue: the kernel's run_delay for the thread
// (/proc/thread-self/schedstat, second field) read after each batch of
// sends. A flood the loaded host does not run offers the limiter nothing
// to pass, and the line time lost beyond the limiter's burst is the
// host's, not the limiter's. Without schedstat it records nothing.
type stallMeter struct {
	f      *os.File
	start  time.Time
	last   time.Duration
	stalls []stall
}

func newStallMeter() *stallMeter {
	m := &stallMeter{start: time.Now()}
	f, err := os.Open("/proc/thread-self/schedstat")
	if err != nil {
		return m
	}
	m.f = f
	m.last = m.read()
	return m
}

// read returns the thread's run_delay so far (0 without schedstat).
func (m *stallMeter) read() time.Duration {
	if m.f == nil {
		return 0
	}
	var b [96]byte
	n, err := m.f.ReadAt(b[:], 0)
	if n == 0 && err != nil {
		return 0
	}
	f := strings.Fields(string(b[:n]))
	if len(f) < 2 {
		return 0
	}
	d, _ := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(d)
}

// tick records the wait since the last tick when it reaches minStall.
func (m *stallMeter) tick() {
	if m.f == nil {
		return
	}
	if d := m.read(); d-m.last >= minStall {
		m.stalls = append(m.stalls, stall{At: time.Since(m.start), Len: d - m.last})
		m.last = d
	}
}

func (m *stallMeter) close() {
	if m.f != nil {
		m.f.Close()
	}
}

// lostLineTime is the line time stalls within [from, from+window) cost a
// flood: each stall's part beyond what the limiter lets a sender catch up
// on (tolerance: its idle credit and the backlog it may hold).
func lostLineTime(stalls []stall, from, window, tolerance time.Duration) time.Duration {
	var lost time.Duration
	for _, st := range stalls {
		if st.At >= from && st.At < from+window && st.Len > tolerance {
			lost += st.Len - tolerance
		}
	}
	return lost
}

// stolenTime is the time the hypervisor has taken from this machine's
// CPUs so far, summed over them (/proc/stat's steal; 0 where unknown). A
// stolen CPU runs nothing, and its thread's run_delay does not show it.
func stolenTime() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	ticks, _ := strconv.ParseInt(f[8], 10, 64)
	return time.Duration(ticks) * time.Second / userHZ
}

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 on every
// architecture Linux runs Go on.
const userHZ = 100

// forceRcvBuf gives pc a receive buffer of udpRcvBuf beyond rmem_max
// (SO_RCVBUFFORCE, root): a sink that the loaded host does not run for
// tens of milliseconds must not drop what the limiter passed.
func forceRcvBuf(pc net.PacketConn) error {
	raw, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpRcvBuf)
	})
	if err == nil && serr != nil {
		err = fmt.Errorf("setting SO_RCVBUFFORCE: %w", serr)
	}
	return err
}

// udpReader adapts a PacketConn to receive's net.Conn use (Read and
// SetReadDeadline).
type udpReader struct{ net.PacketConn }

func (u udpReader) Read(p []byte) (int, error) {
	n, _, err := u.ReadFrom(p)
	return n, err
}
func (udpReader) Write([]byte) (int, error) { return 0, errors.ErrUnsupported }
func (udpReader) RemoteAddr() net.Addr      { return nil }

// floodUDP floods bedCliIP:bedPort from srv until stop is closed; the
// returned func waits for it to end. Sends refused while the child is not
// listening yet (ICMP port unreachable) are ignored. wait returns the
// flooding thread's stalls.
func (b *bed) floodUDP(t testing.TB, stop <-chan struct{}) (wait func() []stall) {
	t.Helper()
	var c net.Conn
	err := inNetns(b.srvNS, func() (err error) {
		c, err = net.Dial("udp4", net.JoinHostPort(bedCliIP, strconv.Itoa(bedPort)))
		return err
	})
	if err != nil {
		t.Fatalf("dialing the udp flood: %v", err)
	}
	done := make(chan struct{})
	var m *stallMeter
	go func() {
		defer close(done)
		defer c.Close()
		runtime.LockOSThread() // the stall meter reads this thread's; ends with it
		m = newStallMeter()
		defer m.close()
		buf := make([]byte, udpPayload)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 64 {
				_, _ = c.Write(buf)
			}
			m.tick()
		}
	}()
	return func() []stall { <-done; return m.stalls }
}

// waitReady reads the child's "ready" line.
func (c *client) waitReady(t testing.TB) {
	t.Helper()
	if !c.out.Scan() || c.out.Text() != "ready" {
		t.Fatalf("udp receiver did not start: %q", c.out.Text())
	}
}

// TestNetworkUDPFlood is issue 16's traffic that ignores congestion
// signals, both ways, at 10 and 100 Mbit/s (virtual-queue mode). A UDP
// flood alone (the sender writes as fast as its socket takes datagrams,
// gigabits per second on the veth) is held to the rate: the receiver reads
// the ideal within floodSlack over 8 s (97.8-100.0%, median 100.0%, in 40
// readings). Then a TCP flow in the same cgroup runs beside the flood, and
// neither starves the other: the flood may fill the shared virtual queue
// only to Config.OtherDropNs, so TCP finds room above it, and beyond that
// the flood passes on its own half of the rate (Config.OtherCostPerByte).
// The flood must read half the ideal within twice floodSlack (its share's
// backlog moves at half the rate), TCP at least 40% (half, less 10% of line
// time the loaded host may not run the sender in), and the two together,
// in wire bytes, the rate within windowSlack (in twelve readings: TCP
// 49.3-51.2%, the flood 50.0%, together 99.3-101.2%). Before OtherDropNs the
// ingress flood starved the TCP download (0.0-0.3% of the rate); with
// OtherDropNs alone, TCP starved the flood (0.0-4.3%).
func TestNetworkUDPFlood(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	for _, dir := range []bwprog.Direction{bwprog.Egress, bwprog.Ingress} {
		for _, rate := range []uint64{10e6, 100e6} {
			t.Run(dir.String()+"-"+FormatRate(rate), func(t *testing.T) {
				n, cfg := &Network{EgressRate: rate}, dirConfig(rate, 0, false)
				if dir == bwprog.Ingress {
					n, cfg = &Network{IngressRate: rate}, ingressConfig(rate, 0)
				}
				c := limitedCgroup(t, n)
				low, high := floodSlack(cfg, floodWindow)
				alone := b.flood(t, c, dir, false)
				lost := lostLineTime(alone.stalls, 1500*time.Millisecond, floodWindow, time.Duration(cfg.OtherDropNs+cfg.BurstNs))
				low -= float64(lost) / float64(floodWindow)
				t.Logf("flood alone: %.2f%% of ideal (want %.1f-%.1f%%; the host did not run the flood for %v beyond the limiter's burst)",
					100*alone.udp/idealUDPGoodput(rate), 100*low, 100*high, lost)
				if r := alone.udp / idealUDPGoodput(rate); r < low || r > high {
					t.Errorf("flood alone: %.1f%% of ideal, want %.1f-%.1f%%", 100*r, 100*low, 100*high)
				}
				both := b.flood(t, c, dir, true)
				tcp := both.tcp / idealGoodput(rate)
				wire := (both.udp/udpPayload*udpWire + both.tcp/bedMSS*bedWire) * 8 / float64(rate)
				slack := windowSlack(cfg, floodWindow)
				st, err := networkStatsOf(c)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("beside the flood: tcp %.2f%% of ideal, flood %.2f%%, both %.2f%% of the rate on the wire (want 100+-%.1f%%); %+v",
					100*tcp, 100*both.udp/idealUDPGoodput(rate), 100*wire, 100*slack, st)
				udp := both.udp / idealUDPGoodput(rate)
				if tcp < 0.40 {
					t.Errorf("tcp beside a flood: %.1f%% of ideal, want >= 40%%", 100*tcp)
				}
				if ulow, uhigh := 0.5*(2*low-1), 0.5*(2*high-1); udp < ulow || udp > uhigh {
					t.Errorf("flood beside tcp: %.1f%% of ideal, want %.1f-%.1f%%", 100*udp, 100*ulow, 100*uhigh)
				}
				if wire < 1-slack || wire > 1+slack {
					t.Errorf("tcp and flood together: %.1f%% of the rate, want 100+-%.1f%%", 100*wire, 100*slack)
				}
			})
		}
	}
}

// floodWindow is how long TestNetworkUDPFlood reads goodput, from 1.5 s on.
const floodWindow = 8 * time.Second

// floodSlack bounds a flood's goodput read over window: the bytes passed
// are the window's line time plus the change of the virtual backlog, which
// the flood holds between -BurstNs (idle credit) and OtherDropNs; 1% more
// covers the receiver's reads lagging the window's edges. Below, 2% more:
// a flooding sender that this loaded 2-core host does not run for longer
// than OtherDropNs+BurstNs (15 ms at 100 Mbit/s) leaves line time unused,
// which no limiter gives back. The test lowers the bound by the line time
// it measured so lost (lostLineTime), beyond those 2%: under CI's load
// plus other work the flood once read 95.5% against 96.7%.
func floodSlack(c bwprog.Config, window time.Duration) (low, high float64) {
	s := float64(c.OtherDropNs+c.BurstNs) / float64(window)
	return 1 - s - 0.03, 1 + s + 0.01
}

// floodResult is the goodput (bytes/s) of the flood and of the TCP flow,
// and the flooding thread's stalls (since about the flood's start).
type floodResult struct {
	udp, tcp float64
	stalls   []stall
}

// flood runs a UDP flood from (egress) or to (ingress) cgroup c for
// floodWindow + 2 s, with a TCP bulk flow of c in the same direction when
// withTCP, and reads both goodputs over floodWindow from 1.5 s on.
func (b *bed) flood(t *testing.T, c *Cgroup, dir bwprog.Direction, withTCP bool) floodResult {
	const from = 1500 * time.Millisecond
	secs := (floodWindow + 2*time.Second).Seconds()
	var r floodResult
	if dir == bwprog.Egress {
		b.received[udpTag-'A'].Store(0)
		u := b.startClient(t, c.path, 'u', secs, 0)
		var tc *client
		if withTCP {
			tc = b.startClient(t, c.path, 'A', secs, 0)
		}
		var wg sync.WaitGroup
		wg.Go(func() { r.tcp = b.measure('A', from, from+floodWindow) })
		r.udp = b.measure(udpTag, from, from+floodWindow)
		wg.Wait()
		r.stalls = u.wait(t).Stalls
		if tc != nil {
			tc.wait(t)
		}
		return r
	}
	u := b.startClient(t, c.path, 'U', secs, 0)
	u.waitReady(t)
	stop := make(chan struct{})
	waitFlood := b.floodUDP(t, stop)
	var tc *client
	if withTCP {
		tc = b.startClient(t, c.path, 'r', secs, 0)
	}
	ur := u.wait(t)
	close(stop)
	r.stalls = waitFlood()
	r.udp = ur.rxGoodput(from)
	if tc != nil {
		r.tcp = tc.wait(t).rxGoodput(from)
	}
	return r
}
