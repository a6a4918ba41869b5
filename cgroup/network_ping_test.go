package cgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// The ICMP echo probe of the bwclient child: ping(8)'s measurement, kept
// free of either end's scheduling. The server's kernel answers the echo
// (no process is woken there), and the reply's arrival is the kernel's
// receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME), so a late wakeup of
// the reader adds nothing. What remains is the clock read just before
// sendto and the path itself: the cgroup's egress program, the qdisc (tbf
// queues here), the veth, the server's ICMP reply and the way back.
//
// The requests pass through the cgroup's egress program: the raw socket is
// created by the child, which was born in the cgroup, so the socket carries
// that cgroup (sk_cgrp_data) and ip_finish_output runs the cgroup_skb/egress
// program for every packet it sends. TestNetworkPingProbe checks this
// through the limiter's counters: egress packets >= echo requests sent.

const (
	icmpEchoReply   = 0
	icmpEchoRequest = 8
	icmpFilter      = 1 // ICMP_FILTER, a SOL_RAW option of raw ICMP sockets
	icmpLostAfter   = time.Second
)

// icmpProbe is an open raw ICMP socket of the child's network namespace.
type icmpProbe struct {
	f   *os.File
	dst unix.SockaddrInet4
	id  uint16
}

// openICMPProbe opens the socket; the calling thread's network namespace
// is the one it belongs to (bwClient calls it after setns, on its locked
// main thread). A ping socket (SOCK_DGRAM) would need ping_group_range
// opened in the namespace; the child is root, so it uses a raw socket.
func openICMPProbe(dst string) (*icmpProbe, error) {
	ip := net.ParseIP(dst).To4()
	if ip == nil {
		return nil, fmt.Errorf("icmp probe: %q is not an IPv4 address", dst)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return nil, fmt.Errorf("icmp probe: opening raw socket: %w", err)
	}
	opts := []struct {
		level, name, val int
	}{
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		// A raw socket sees every ICMP message of the namespace: keep
		// echo replies only (the mask lists the types to drop).
		{unix.SOL_RAW, icmpFilter, int(^int32(1 << icmpEchoReply))},
		// Replies wait here until the reader runs; they carry their own
		// arrival time, so a slow reader must only not overflow it.
		{unix.SOL_SOCKET, unix.SO_RCVBUF, 1 << 20},
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.val); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("icmp probe: setsockopt %d/%d: %w", o.level, o.name, err)
		}
	}
	p := &icmpProbe{f: os.NewFile(uintptr(fd), "icmp"), id: uint16(os.Getpid())}
	copy(p.dst.Addr[:], ip)
	return p, nil
}

func (p *icmpProbe) Close() error {
	if p == nil || p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}

// icmpResult is what one probe run saw.
type icmpResult struct {
	RTTs       []time.Duration // answered within icmpLostAfter
	Sent, Lost int
}

// run sends an echo request every interval until deadline and collects the
// replies, waiting at most icmpLostAfter past the last request for the
// ones still out. RTT = kernel receive timestamp - clock read before sendto.
func (p *icmpProbe) run(deadline time.Time, every time.Duration) (icmpResult, error) {
	n := min(max(int(time.Until(deadline)/every), 0)+1, 1<<16) // seq is 16 bits
	sentAt := make([]atomic.Int64, n)                          // unix ns; 0: not sent
	var sent atomic.Int64                                      // 0 while sending, then -1 - requests sent
	senderr := make(chan error, 1)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		i := 0
		var err error
		for ; i < n; i++ {
			if now := <-tick.C; now.After(deadline) {
				break
			}
			if err = p.send(uint16(i), &sentAt[i]); err != nil {
				break
			}
		}
		sent.Store(-1 - int64(i))
		senderr <- err
	}()
	res, err := p.collect(sentAt, &sent)
	if serr := <-senderr; err == nil {
		err = serr
	}
	return res, err
}

// send writes echo request seq (no payload: the smallest frame, so the
// probe costs the limited flow little), storing the send time first: the
// reply may be queued before sendto returns.
func (p *icmpProbe) send(seq uint16, at *atomic.Int64) error {
	var req [8]byte
	req[0] = icmpEchoRequest
	binary.BigEndian.PutUint16(req[4:], p.id)
	binary.BigEndian.PutUint16(req[6:], seq)
	binary.BigEndian.PutUint16(req[2:], inetChecksum(req[:]))
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		at.Store(time.Now().UnixNano()) // vDSO CLOCK_REALTIME, like the stamp
		serr = unix.Sendto(int(fd), req[:], 0, &p.dst)
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("icmp probe: sending echo request: %w", err)
	}
	return nil
}

// collect reads replies until the sender is done and every request is
// answered or icmpLostAfter past the last one.
func (p *icmpProbe) collect(sentAt []atomic.Int64, sent *atomic.Int64) (icmpResult, error) {
	var res icmpResult
	answered := make([]bool, len(sentAt))
	got := 0
	buf, oob := make([]byte, 1500), make([]byte, unix.CmsgSpace(16))
	for {
		s := sent.Load()
		if s < 0 {
			res.Sent = int(-1 - s)
			last := time.Unix(0, sentAt[max(res.Sent-1, 0)].Load())
			if got == res.Sent || time.Since(last) > icmpLostAfter {
				break
			}
		}
		_ = p.f.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		seq, at, err := p.recv(buf, oob)
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errNotOurs) {
			continue
		}
		if err != nil {
			return res, err
		}
		if int(seq) >= len(sentAt) || answered[seq] {
			continue // a duplicate, or not one of ours
		}
		start := sentAt[seq].Load()
		if start == 0 {
			continue
		}
		answered[seq] = true
		got++
		if rtt := time.Duration(at - start); rtt <= icmpLostAfter {
			res.RTTs = append(res.RTTs, rtt)
		}
	}
	res.Lost = res.Sent - len(res.RTTs)
	return res, nil
}

var errNotOurs = errors.New("not our echo reply")

// recv reads one message and returns its sequence number and kernel
// receive time (unix ns), or errNotOurs.
func (p *icmpProbe) recv(buf, oob []byte) (seq uint16, at int64, err error) {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var n, oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, 0, err
	}
	id, seq, ok := parseEchoReply(buf[:n])
	if !ok || id != p.id {
		return 0, 0, errNotOurs
	}
	at, err = rxTimestamp(oob[:oobn])
	return seq, at, err
}

// parseEchoReply takes an IPv4 packet as a raw socket delivers it (with
// its IP header) and returns the echo reply's id and sequence number.
func parseEchoReply(pkt []byte) (id, seq uint16, ok bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[0]&0x0f < 5 {
		return 0, 0, false
	}
	icmp := pkt[min(int(pkt[0]&0x0f)*4, len(pkt)):]
	if len(icmp) < 8 || icmp[0] != icmpEchoReply || icmp[1] != 0 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(icmp[4:]), binary.BigEndian.Uint16(icmp[6:]), true
}

// rxTimestamp returns the SCM_TIMESTAMPNS of a message in unix ns.
func rxTimestamp(oob []byte) (int64, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, fmt.Errorf("icmp probe: parsing control messages: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return sec*1e9 + nsec, nil
		}
	}
	return 0, errors.New("icmp probe: reply without a receive timestamp")
}

// inetChecksum is the Internet checksum (RFC 1071) of b.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TestNetworkPingProbe proves the ICMP probe measures the network path.
// Idle, from a limited cgroup: every echo is answered, the median RTT is
// sub-millisecond (the issue measured 0.06 ms), and the limiter's egress
// counter saw every request (so the probe's packets take the limited
// path). Behind tbf at 10 Mbit/s with a bulk flow, the median is far
// above the idle one: tbf's queue is what the probe sees. Measured here:
// idle p50 0.05-0.06 ms; loaded p10 7 ms, p50 10 ms (once 52 ms), p99
// 100 ms (tbf's limit, 128 KB at 10 Mbit/s). The bounds (idle p50 < 1 ms,
// loaded p50 >= 3 ms) leave a margin of 3x or more on both sides for a
// shared host, yet a probe returning zero or a constant would fail.
func TestNetworkPingProbe(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	b := newBed(t)
	const every = 5 * time.Millisecond

	c := limitedCgroup(t, &Network{EgressRate: 100e6})
	idle := b.startProbedClient(t, c.path, 'p', 1.5, probes{icmpMs: int(every / time.Millisecond)}, 0).wait(t)
	st, err := networkStatsOf(c)
	if err != nil {
		t.Fatal(err)
	}
	idleP50 := percentile(idle.ICMP, .5)
	t.Logf("idle: %d sent, %d lost, p50 %v p99 %v; egress %+v; ingress %+v",
		idle.ICMPSent, idle.ICMPLost, idleP50, percentile(idle.ICMP, .99), st.Egress, st.Ingress)
	if idle.ICMPSent < 150 || idle.ICMPLost != 0 || len(idle.ICMP) != idle.ICMPSent {
		t.Errorf("idle: %d sent, %d answered, %d lost: want >= 150 sent (1.5 s every %v), all answered",
			idle.ICMPSent, len(idle.ICMP), idle.ICMPLost, every)
	}
	if idleP50 <= 0 || idleP50 >= time.Millisecond {
		t.Errorf("idle p50 %v, want in (0, 1ms)", idleP50)
	}
	// The child sends nothing else over IP, so the egress program saw
	// exactly the echo requests.
	if st.Egress.Packets != uint64(idle.ICMPSent) {
		t.Errorf("egress program passed %d packets for %d echo requests", st.Egress.Packets, idle.ICMPSent)
	}

	b.setTBF(t, 10e6)
	loaded := b.startProbedClient(t, testutil.TempCgroup(t), 'A', 3, probes{tcpMs: 10, icmpMs: int(every / time.Millisecond)}, 0).wait(t)
	p50 := percentile(loaded.ICMP, .5)
	t.Logf("tbf 10mbit + bulk: %d sent, %d lost, p50 %v p99 %v; tcp probe p50 %v p99 %v",
		loaded.ICMPSent, loaded.ICMPLost, p50, percentile(loaded.ICMP, .99),
		percentile(loaded.RTTs, .5), percentile(loaded.RTTs, .99))
	if loaded.ICMPSent < 300 || 2*len(loaded.ICMP) < loaded.ICMPSent {
		t.Errorf("loaded: %d sent, %d answered: want >= 300 sent, half answered", loaded.ICMPSent, len(loaded.ICMP))
	}
	if p50 < 3*time.Millisecond || p50 < 10*idleP50 {
		t.Errorf("loaded p50 %v, want >= 3ms and >= 10x idle p50 %v (tbf's queue)", p50, idleP50)
	}
}

// TestEchoReplyParse: a reply as a raw socket delivers it (IP header with
// options, then ICMP) parses; other types, short packets and IPv6 do not;
// the checksum of a packet with its checksum filled in sums to zero.
func TestEchoReplyParse(t *testing.T) {
	pkt := make([]byte, 24+8)
	pkt[0] = 0x46 // IPv4, 24-byte header (one option word)
	icmp := pkt[24:]
	binary.BigEndian.PutUint16(icmp[4:], 0xbeef)
	binary.BigEndian.PutUint16(icmp[6:], 513)
	binary.BigEndian.PutUint16(icmp[2:], inetChecksum(icmp))
	if s := inetChecksum(icmp); s != 0 {
		t.Errorf("checksum over a checksummed message: %#x, want 0", s)
	}
	if id, seq, ok := parseEchoReply(pkt); !ok || id != 0xbeef || seq != 513 {
		t.Errorf("parseEchoReply = %#x, %d, %v; want 0xbeef, 513, true", id, seq, ok)
	}
	request := append([]byte(nil), pkt...)
	request[24] = icmpEchoRequest
	ipv6 := append([]byte(nil), pkt...)
	ipv6[0] = 0x60
	badIHL := append([]byte(nil), pkt...)
	badIHL[0] = 0x41
	for name, p := range map[string][]byte{"request": request, "short": pkt[:31], "ipv6": ipv6, "ihl 1": badIHL, "empty": nil} {
		if _, _, ok := parseEchoReply(p); ok {
			t.Errorf("%s: parsed as an echo reply", name)
		}
	}
	// RFC 1071's example: the one's complement sum of these words is 0xddf2.
	if s := inetChecksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); s != ^uint16(0xddf2) {
		t.Errorf("RFC 1071 example: %#x, want %#x", s, ^uint16(0xddf2))
	}
}

func FuzzParseEchoReply(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 199, 0, 1, 10, 199, 0, 2, 0, 0, 0, 0, 0, 1, 0, 2})
	f.Add([]byte{0x4f, 0, 0, 0})
	f.Add(append([]byte{0x41}, make([]byte, 27)...)) // IHL 1: shorter than an IP header
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if _, _, ok := parseEchoReply(pkt); ok {
			if ihl := int(pkt[0]&0x0f) * 4; pkt[0]>>4 != 4 || ihl < 20 || ihl+8 > len(pkt) {
				t.Fatalf("accepted %x", pkt)
			}
		}
		_ = inetChecksum(pkt)
	})
}
