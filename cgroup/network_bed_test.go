package cgroup

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
	cnetns "github.com/confinelab/confine/netns"
)

// The bandwidth test bed: two network namespaces joined by a veth pair,
// a TCP server in "srv" (10.199.0.1) and clients started in "cli"
// (10.199.0.2) by child processes born in the cgroup under test.

const (
	bedSrvIP = "10.199.0.1"
	bedCliIP = "10.199.0.2"
	bedPort  = 5201
	bedMSS   = 1448 // MTU 1500 - IPv4 20 - TCP 20 - timestamps 12
	bedWire  = 1514 // MSS + 52 header bytes + Ethernet 14
)

type bed struct {
	srvNS, cliNS string
	cliLink      string // veth end in cliNS
	srvLink      string
	ln           net.Listener
	conns        sync.WaitGroup
	// received counts bulk bytes per connection tag (first byte 'A'..'Z')
	// as the sink read them; sinks holds the same connections for
	// delivered.
	received [26]atomic.Uint64
	sinks    [26]sinkSet
	// cc is the congestion control the clients' bulk sockets use
	// (TCP_CONGESTION, set before connecting, so that DCTCP negotiates
	// ECN); "" keeps the namespace's default, which on this host is BBR.
	cc string
}

// useBPFFS mounts a private BPF filesystem for the pins, since the host has
// none at /sys/fs/bpf, and points the package at it. Mounting needs root,
// as does everything after it in a network test.
func useBPFFS(t testing.TB) string {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	old := networkFS
	networkFS = bpfpin.FS(dir)
	t.Cleanup(func() {
		networkFS = old
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting bpffs: %v", err)
		}
	})
	return dir
}

// inNetns runs fn inside the network namespace at path, through the
// library's one thread-switching Do.
func inNetns(path string, fn func() error) error {
	h, err := namespace.OpenPath(path)
	if err != nil {
		return err
	}
	defer h.Close()
	return namespace.Do(fn, h)
}

// installFQ is netns.InstallFQ for the namespace at path.
func installFQ(path, link string) error {
	h, err := cnetns.OpenPath(path)
	if err != nil {
		return err
	}
	defer h.Close()
	return cnetns.InstallFQ(h, link)
}

func newBed(t testing.TB) *bed {
	t.Helper()
	testutil.RequireRoot(t)
	b := &bed{srvNS: testutil.TempNetns(t), cliNS: testutil.TempNetns(t), srvLink: "bw0", cliLink: "bw1"}
	srvH, cliH := nsHandle(t, b.srvNS), nsHandle(t, b.cliNS)
	cliFd, err := netns.GetFromPath(b.cliNS)
	if err != nil {
		t.Fatal(err)
	}
	defer cliFd.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: b.srvLink},
		PeerName: b.cliLink, PeerNamespace: netlink.NsFd(int(cliFd))}
	if err := srvH.LinkAdd(veth); err != nil {
		t.Fatalf("adding veth: %v", err)
	}
	for _, s := range []struct {
		h          *netlink.Handle
		name, addr string
	}{{srvH, b.srvLink, bedSrvIP}, {cliH, b.cliLink, bedCliIP}} {
		for _, name := range []string{"lo", s.name} {
			l, err := s.h.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if name != "lo" {
				a, _ := netlink.ParseAddr(s.addr + "/24")
				if err := s.h.AddrAdd(l, a); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.h.LinkSetUp(l); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = inNetns(b.srvNS, func() (err error) {
		b.ln, err = net.Listen("tcp4", net.JoinHostPort(bedSrvIP, strconv.Itoa(bedPort)))
		return err
	})
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	b.conns.Add(1)
	go b.serve()
	b.startUDPSink(t)
	t.Cleanup(func() {
		b.ln.Close()
		b.conns.Wait()
	})
	return b
}

func nsHandle(t testing.TB, path string) *netlink.Handle {
	t.Helper()
	fd, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// serve accepts connections: a first byte 'A'..'Z' makes a bulk sink
// counted in received[tag]; 'e' an echo of 64-byte requests; 'r' a bulk
// source (the client measures what it receives: ingress tests).
func (b *bed) serve() {
	defer b.conns.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.conns.Add(1)
		go func() {
			defer b.conns.Done()
			defer c.Close()
			var tag [1]byte
			if _, err := io.ReadFull(c, tag[:]); err != nil {
				return
			}
			switch tag[0] {
			case 'e':
				_, _ = io.Copy(c, c)
				return
			case 'r':
				buf := make([]byte, 64<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}
			if tag[0] < 'A' || tag[0] > 'Z' {
				return
			}
			ctr := &b.received[tag[0]-'A']
			set := &b.sinks[tag[0]-'A']
			set.add(c)
			defer set.remove(c)
			buf := make([]byte, 256<<10)
			for {
				n, err := c.Read(buf)
				ctr.Add(uint64(n))
				if err != nil {
					return
				}
			}
		}()
	}
}

// sinkSet is the bulk sink connections of one tag, open and closed, for
// reading what their receiving TCP stack took in.
type sinkSet struct {
	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed uint64 // tcpi_bytes_received of connections removed
}

func (s *sinkSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == nil {
		s.open = make(map[net.Conn]struct{})
	}
	s.open[c] = struct{}{}
}

func (s *sinkSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := tcpInfo(c)
	s.closed += i.Bytes_received
	delete(s.open, c)
}

// delivered returns the payload bytes the server's TCP stack received in
// order on tag's sink connections (tcpi_bytes_received, the first tag
// byte included): what the limited path delivered, whether or not the
// sink goroutine has read it yet. On this shared 2-core host the sink can
// fall seconds behind while the path runs at the rate (issue 16's
// cubic-10mbit failure: the limiter passed 100% of line time in the
// window, the sink read 75% of it); a goodput read from the sink's reads
// then measures the test process's scheduling, not the limiter.
// Datagrams (udpTag) have no such stack: their count is the sink's.
func (b *bed) delivered(tag byte) uint64 {
	if tag == udpTag {
		return b.received[tag-'A'].Load()
	}
	s := &b.sinks[tag-'A']
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.closed
	for c := range s.open {
		i, _ := tcpInfo(c)
		n += i.Bytes_received
	}
	return n
}

// client is a bulk sender (and optional echo pinger) running in a child
// process born in a cgroup.
type client struct {
	cmd *exec.Cmd
	out *bufio.Scanner
	tag byte
}

type clientResult struct {
	Sent, Segs, Retrans uint64
	ECN                 bool // the bulk connection negotiated ECN
	// MaxPace is the bulk socket's SO_MAX_PACING_RATE at its end (bytes/s,
	// ^0 when unlimited), as TCP_INFO reports it.
	MaxPace uint64
	RTTs    []time.Duration // TCP request/response probe
	// ICMP are the echo probe's RTTs; ICMPSent requests were sent and
	// ICMPLost of them not answered within a second.
	ICMP               []time.Duration
	ICMPSent, ICMPLost int
	// RX samples received bytes over time (receive mode, tag 'r').
	RX []rxSample
	// Stalls are the sending thread's (bulk senders and the UDP flooder,
	// tag 'u'), since it started sending.
	Stalls []stall
}

type rxSample struct {
	At    time.Duration // since the client connected
	Bytes uint64        // received so far
}

// rxGoodput returns the receive goodput in bytes/s between the first
// sample at or after from and the last sample.
func (r clientResult) rxGoodput(from time.Duration) float64 {
	i := slices.IndexFunc(r.RX, func(s rxSample) bool { return s.At >= from })
	if i < 0 || i == len(r.RX)-1 {
		return 0
	}
	a, b := r.RX[i], r.RX[len(r.RX)-1]
	return float64(b.Bytes-a.Bytes) / (b.At - a.At).Seconds()
}

// rxBetween returns the receive goodput in bytes/s from the last sample at
// or before from to the first at or after to (the samples of a starved
// download are sparse: the span then grows to the samples there are).
func (r clientResult) rxBetween(from, to time.Duration) float64 {
	if len(r.RX) < 2 {
		return 0
	}
	i := max(0, slices.IndexFunc(r.RX, func(s rxSample) bool { return s.At > from })-1)
	j := slices.IndexFunc(r.RX, func(s rxSample) bool { return s.At >= to })
	if j < 0 {
		j = len(r.RX) - 1
	}
	if j <= i {
		return 0
	}
	a, b := r.RX[i], r.RX[j]
	return float64(b.Bytes-a.Bytes) / (b.At - a.At).Seconds()
}

// startClient starts "bwclient" in cgroup dir: it sends for secs seconds
// with tag, pinging every pingMs (0: no pings) over TCP.
func (b *bed) startClient(t testing.TB, dir string, tag byte, secs float64, pingMs int) *client {
	t.Helper()
	return b.startProbedClient(t, dir, tag, secs, probes{tcpMs: pingMs}, 0)
}

// probes says how often the client's latency probes run (0: not at all).
type probes struct {
	tcpMs  int // 64-byte TCP request/response
	icmpMs int // ICMP echo (network_ping_test.go)
}

// startProbedClient is startClient with both probes and the bulk socket
// paced by TCP itself (SO_MAX_PACING_RATE, bytes/s; 0: not paced): a
// control that sends at a rate without any limiter or qdisc. Tag 'p' runs
// the probes alone, with no bulk flow.
func (b *bed) startProbedClient(t testing.TB, dir string, tag byte, secs float64, pr probes, pace uint64) *client {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := testutil.HelperCommand(t, "bwclient", b.cliNS,
		net.JoinHostPort(bedSrvIP, strconv.Itoa(bedPort)), string(tag),
		strconv.FormatFloat(secs, 'f', -1, 64), strconv.Itoa(pr.tcpMs), strconv.FormatUint(pace, 10),
		strconv.Itoa(pr.icmpMs))
	cmd.SysProcAttr = &unix.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if b.cc != "" {
		cmd.Env = append(cmd.Env, envBwCC+"="+b.cc)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting client: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &client{cmd: cmd, out: bufio.NewScanner(stdout), tag: tag}
}

func (c *client) wait(t testing.TB) clientResult {
	t.Helper()
	var r clientResult
	for c.out.Scan() {
		f := strings.Fields(c.out.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "rtt":
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			r.RTTs = append(r.RTTs, time.Duration(ns))
		case "icmp":
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			r.ICMP = append(r.ICMP, time.Duration(ns))
		case "icmpsent":
			r.ICMPSent, _ = strconv.Atoi(f[1])
		case "icmplost":
			r.ICMPLost, _ = strconv.Atoi(f[1])
		case "rx":
			at, _ := strconv.ParseInt(f[1], 10, 64)
			n, _ := strconv.ParseUint(f[2], 10, 64)
			r.RX = append(r.RX, rxSample{At: time.Duration(at), Bytes: n})
		case "stall":
			at, _ := strconv.ParseInt(f[1], 10, 64)
			n, _ := strconv.ParseInt(f[2], 10, 64)
			r.Stalls = append(r.Stalls, stall{At: time.Duration(at), Len: time.Duration(n)})
		case "done":
			var ecn int
			fmt.Sscanf(c.out.Text(), "done sent=%d segs=%d retrans=%d ecn=%d maxpace=%d",
				&r.Sent, &r.Segs, &r.Retrans, &ecn, &r.MaxPace)
			r.ECN = ecn == 1
		}
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	return r
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func init() {
	// Handled here rather than through TestMain so this file needs no
	// shared TestMain: only the "bwclient" helper is intercepted.
	if os.Getenv(testutil.EnvHelper) == "bwclient" {
		os.Exit(bwClient(os.Args[1:]))
	}
}

// bwClient: NETNS ADDR TAG SECONDS PING_MS PACE [ICMP_MS]. Joins NETNS on
// its locked main thread (sockets are created there), streams, and prints
// "rtt NS" lines (TCP probe), then "icmp NS" lines, "icmpsent N" and
// "icmplost N" (ICMP probe), "stall AT LEN" lines (the sending thread
// waited on a runqueue; see stallMeter) and a final "done sent=N segs=N retrans=N
// ecn=0|1 maxpace=N".
// With TAG 'r' it receives instead and prints "rx NS BYTES" every 100 ms;
// with TAG 'p' it runs the probes alone; TAG 'u' and 'U' are the UDP flood
// and UDP sink of network_udp_test.go.
func bwClient(args []string) int {
	runtime.LockOSThread()
	fd, err := unix.Open(args[0], unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Setns(fd, unix.CLONE_NEWNET)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bwclient: joining netns:", err)
		return 1
	}
	secs, _ := strconv.ParseFloat(args[3], 64)
	pingMs, _ := strconv.Atoi(args[4])
	icmpMs := 0
	if len(args) > 6 {
		icmpMs, _ = strconv.Atoi(args[6])
	}
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	tag := args[2][0]
	if tag == 'r' {
		pingMs, icmpMs = 0, 0
	}
	waitProbes, err := startProbes(args[1], deadline, pingMs, icmpMs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bwclient:", err)
		return 1
	}
	var done string
	if tag == 'u' || tag == 'U' {
		done, err = udpClient(args[1], tag, deadline)
	} else if tag == 'p' {
		time.Sleep(time.Until(deadline))
		done = "done sent=0 segs=0 retrans=0 ecn=0"
	} else {
		done, err = bulkClient(args[1], tag, args[5], deadline)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bwclient:", err)
		return 1
	}
	if err := waitProbes(); err != nil {
		fmt.Fprintln(os.Stderr, "bwclient:", err)
		return 1
	}
	fmt.Println(done)
	return 0
}

// bulkClient streams (or with tag 'r' receives) until deadline and returns
// the "done" line.
func bulkClient(addr string, tag byte, paceArg string, deadline time.Time) (string, error) {
	c, err := dialCC(addr, os.Getenv(envBwCC))
	if err != nil {
		return "", err
	}
	// Closed with a reset: a graceful close would leave the unsent part of
	// the send buffer (megabytes, seconds of line time at 10 Mbit/s)
	// draining behind the process, on the same veth as the next run.
	defer func() {
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}()
	if _, err := c.Write([]byte{tag}); err != nil {
		return "", err
	}
	if pace, _ := strconv.ParseUint(paceArg, 10, 64); pace != 0 {
		if err := setPacing(c, pace); err != nil {
			return "", fmt.Errorf("pacing: %w", err)
		}
	}
	if tag == 'r' {
		receive(c, deadline)
		info, _ := tcpInfo(c)
		return fmt.Sprintf("done sent=0 segs=0 retrans=0 ecn=%d", ecnOf(info)), nil
	}
	buf := make([]byte, 64<<10)
	var sent uint64
	stopTrace := traceTCP(c)
	m := newStallMeter() // bwClient's thread is locked: the meter reads it
	defer m.close()
	for time.Now().Before(deadline) {
		_ = c.SetWriteDeadline(deadline)
		n, err := c.Write(buf)
		sent += uint64(n)
		if err != nil {
			break
		}
		m.tick()
	}
	stopTrace()
	for _, st := range m.stalls {
		fmt.Printf("stall %d %d\n", st.At.Nanoseconds(), st.Len.Nanoseconds())
	}
	info, _ := tcpInfo(c)
	return fmt.Sprintf("done sent=%d segs=%d retrans=%d ecn=%d maxpace=%d",
		sent, info.Data_segs_out, info.Total_retrans, ecnOf(info), info.Max_pacing_rate), nil
}

// tcpiOptECN is TCPI_OPT_ECN of tcpi_options (include/uapi/linux/tcp.h).
const tcpiOptECN = 8

// ecnOf is 1 when the connection negotiated ECN.
func ecnOf(info *unix.TCPInfo) int {
	if info.Options&tcpiOptECN != 0 {
		return 1
	}
	return 0
}

// startProbes opens the probes' sockets on the calling thread (in the
// client's netns) and runs them until deadline: the TCP request/response
// every tcpMs and the ICMP echo every icmpMs (0: off). wait blocks until
// both are done and prints the ICMP results; the TCP probe prints as it goes.
func startProbes(addr string, deadline time.Time, tcpMs, icmpMs int) (wait func() error, err error) {
	var icmp *icmpProbe
	if icmpMs > 0 {
		host, _, _ := net.SplitHostPort(addr)
		if icmp, err = openICMPProbe(host); err != nil {
			return nil, err
		}
	}
	var echo net.Conn
	if tcpMs > 0 {
		if echo, err = net.Dial("tcp4", addr); err == nil {
			_, err = echo.Write([]byte{'e'})
		}
		if err != nil {
			icmp.Close()
			return nil, err
		}
	}
	var wg sync.WaitGroup
	if echo != nil {
		wg.Go(func() { ping(echo, deadline, time.Duration(tcpMs)*time.Millisecond) })
	}
	var res icmpResult
	var ierr error
	if icmp != nil {
		wg.Go(func() { res, ierr = icmp.run(deadline, time.Duration(icmpMs)*time.Millisecond) })
	}
	return func() error {
		wg.Wait()
		if echo != nil {
			echo.Close()
		}
		if icmp == nil {
			return nil
		}
		icmp.Close()
		if ierr != nil {
			return ierr
		}
		// Printed after the TCP probe stopped, so no line is split.
		w := bufio.NewWriter(os.Stdout)
		for _, d := range res.RTTs {
			fmt.Fprintf(w, "icmp %d\n", d.Nanoseconds())
		}
		fmt.Fprintf(w, "icmpsent %d\nicmplost %d\n", res.Sent, res.Lost)
		return w.Flush()
	}, nil
}

// receive reads until deadline, printing the byte count every 100 ms.
func receive(c net.Conn, deadline time.Time) {
	buf := make([]byte, 256<<10)
	start, next := time.Now(), time.Duration(0)
	var total uint64
	for {
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		total += uint64(n)
		if at := time.Since(start); at >= next || err != nil {
			fmt.Printf("rx %d %d\n", at.Nanoseconds(), total)
			next = at + 100*time.Millisecond
		}
		if err != nil {
			return
		}
	}
}

func ping(c net.Conn, deadline time.Time, every time.Duration) {
	req := make([]byte, 64)
	for time.Now().Add(every).Before(deadline) {
		time.Sleep(every)
		start := time.Now()
		binary.LittleEndian.PutUint64(req, uint64(start.UnixNano()))
		if _, err := c.Write(req); err != nil {
			return
		}
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		fmt.Printf("rtt %d\n", time.Since(start).Nanoseconds())
	}
}

func setPacing(c net.Conn, bytesPerSec uint64) error {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_MAX_PACING_RATE, bytesPerSec)
	})
	if err == nil {
		err = serr
	}
	return err
}

func tcpInfo(c net.Conn) (*unix.TCPInfo, error) {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var ierr error
	err = raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if err == nil {
		err = ierr
	}
	if info == nil {
		info = &unix.TCPInfo{}
	}
	return info, err
}
