package cgroup

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/bwprog"
)

// Network limits the bandwidth of the cgroup's sockets (those created by
// processes in the cgroup). A non-nil Network attaches the limiter: a
// direction with rate 0 is not limited but still counted. Rates change live
// with Apply; Delete removes the limiter.
type Network struct {
	// EgressRate is the send limit in bits per second on an Ethernet wire
	// (headers included, like tc), 0 for none. Parse user input with
	// ParseRate. At least 1000 when set.
	EgressRate uint64
	// EgressBurst is the credit in bytes an idle cgroup accumulates, 0 for
	// the default (10 ms at the rate, at least 64 KiB).
	EgressBurst uint64
	// IngressRate is the receive limit in bits per second, 0 for none.
	// Packets cannot be held on ingress, only marked (ECN) or dropped, and
	// a drop is a loss the sender repairs; so the limiter lets the cgroup
	// run up to ~0.3 s of line time ahead before it drops, which keeps the
	// link busy through a sender's retransmission timeout. Averaged over
	// seconds the rate is exact.
	IngressRate uint64
	// IngressBurst is like EgressBurst, for ingress.
	IngressBurst uint64
	// EDT selects earliest-departure-time pacing for egress: packets get a
	// departure time and an fq qdisc on the egress device holds them. Set it
	// only when every device the cgroup's traffic leaves through has fq (see
	// InstallFQ): without fq the times are ignored and nothing is limited.
	// Without EDT the virtual-queue mode (ECN marks, congestion
	// notification, drops) works on any device.
	EDT bool
}

// NetworkStats holds the bandwidth limiter's per-cgroup counters.
type NetworkStats struct {
	// Limited is true when a limiter is attached; the counters are zero
	// otherwise.
	Limited bool
	// Egress and Ingress count each direction.
	Egress, Ingress NetworkDirStats
}

// NetworkDirStats counts one direction. Bytes are Ethernet wire bytes
// (every GSO segment's headers counted); a GSO packet counts as one packet
// and as gso_segs segments.
type NetworkDirStats struct {
	Bytes, Packets, Segments uint64 // passed
	Delayed                  uint64 // given a later departure time (EDT)
	Marked                   uint64 // passed with ECN CE / congestion notification
	DroppedPackets           uint64
	DroppedBytes             uint64
}

// networkPinRoot holds the per-cgroup pin directories (cg-<cgroup id>);
// tests point it at a private BPF filesystem.
var networkPinRoot = bpfpin.Root

func (n *Network) validate() error {
	if n == nil {
		return nil
	}
	for _, f := range []struct {
		name  string
		value uint64
	}{{"Network.EgressRate", n.EgressRate}, {"Network.IngressRate", n.IngressRate}} {
		if f.value != 0 && (f.value < bwprog.MinRate || f.value > maxRate) {
			return invalid(f.name, f.value, fmt.Sprintf("must be 0 (no limit) or %d..%d bits/s",
				bwprog.MinRate, uint64(maxRate)))
		}
	}
	for _, f := range []struct {
		name  string
		value uint64
	}{{"Network.EgressBurst", n.EgressBurst}, {"Network.IngressBurst", n.IngressBurst}} {
		if f.value > 1<<32 {
			return invalid(f.name, f.value, "must be at most 4 GiB")
		}
	}
	return nil
}

func (c *Cgroup) networkPinDir() (string, error) {
	id, err := bpfpin.CgroupID(c.path)
	if err != nil {
		return "", err
	}
	return filepath.Join(networkPinRoot, "cg-"+strconv.FormatUint(id, 10)), nil
}

func (c *Cgroup) applyNetwork(n *Network) error {
	if n == nil {
		return nil
	}
	if err := n.validate(); err != nil {
		return err
	}
	cfg := [2]bwprog.Config{
		bwprog.Egress:  dirConfig(n.EgressRate, n.EgressBurst, n.EDT),
		bwprog.Ingress: ingressConfig(n.IngressRate, n.IngressBurst),
	}
	dir, err := c.networkPinDir()
	if err != nil {
		return fmt.Errorf("applying network limits: %w", err)
	}
	l, err := bwprog.Open(dir)
	if err == nil { // adopt and update live
		defer l.Close()
		for d, dc := range cfg {
			if err := l.Update(bwprog.Direction(d), dc); err != nil {
				return fmt.Errorf("applying network limits: %w", err)
			}
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("applying network limits: %w", err)
	}
	if err := ensurePinDir(dir); err != nil {
		return fmt.Errorf("applying network limits: %w", err)
	}
	l, err = bwprog.Attach(c.path, dir, cfg)
	if err != nil {
		removePinDir(dir)
		return fmt.Errorf("applying network limits: %w", err)
	}
	return l.Close()
}

func (c *Cgroup) networkStats(s *NetworkStats) error {
	*s = NetworkStats{}
	dir, err := c.networkPinDir()
	if err != nil {
		return fmt.Errorf("reading network counters: %w", err)
	}
	l, err := bwprog.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading network counters: %w", err)
	}
	defer l.Close()
	for d, out := range []*NetworkDirStats{&s.Egress, &s.Ingress} {
		st, err := l.Stats(bwprog.Direction(d))
		if err != nil {
			return fmt.Errorf("reading network counters: %w", err)
		}
		*out = NetworkDirStats{Bytes: st.PassBytes, Packets: st.PassPackets,
			Segments: st.PassSegments, Delayed: st.Delayed, Marked: st.Marked,
			DroppedPackets: st.DropPackets, DroppedBytes: st.DropBytes}
	}
	s.Limited = true
	return nil
}

func (c *Cgroup) deleteNetwork() error {
	dir, err := c.networkPinDir()
	if errors.Is(err, os.ErrNotExist) {
		return nil // the cgroup is gone, and its links with it
	}
	if err != nil {
		return fmt.Errorf("removing network limits: %w", err)
	}
	l, err := bwprog.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		removePinDir(dir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing network limits: %w", err)
	}
	if err := l.Remove(); err != nil {
		return fmt.Errorf("removing network limits: %w", err)
	}
	removePinDir(dir)
	return nil
}

// ensurePinDir creates dir (and the confine root) on a BPF filesystem.
func ensurePinDir(dir string) error {
	root := filepath.Dir(filepath.Dir(dir))
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		return &internal.UnsupportedError{Feature: "pinning BPF objects",
			Reason: "no BPF filesystem mounted at " + root, Err: err}
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := unix.Mkdir(d, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: d, Err: err}
		}
	}
	return nil
}

// removePinDir removes dir and the confine root if they are empty; other
// users' pins (device programs) keep them.
func removePinDir(dir string) {
	_ = unix.Rmdir(dir)
	_ = unix.Rmdir(filepath.Dir(dir))
}

// Limiter tuning. Virtual-queue thresholds are in line time: backlog is
// how long the bytes passed beyond the rate would take to drain.
const (
	minBurstBytes = 64 << 10
	burstTime     = 10 * time.Millisecond
	markTime      = 2 * time.Millisecond
	markBytes     = 128 << 10 // two full GSO packets
	ceilExtra     = 300 * time.Millisecond
	edtHorizon    = 2 * time.Second
	ingressQueue  = 300 * time.Millisecond
	smallPacket   = 128 // bytes of L3 length: ACKs, SYNs, pings
)

// dirConfig turns a rate (bits/s) and burst (bytes) into program settings.
func dirConfig(rate, burst uint64, edt bool) bwprog.Config {
	if rate == 0 {
		return bwprog.Config{}
	}
	cost := (uint64(8e9) << bwprog.CostShift) / rate
	ns := func(bytes uint64) uint64 {
		hi, lo := bits.Mul64(bytes, cost)
		if hi>>bwprog.CostShift != 0 {
			return 1 << 62
		}
		return lo>>bwprog.CostShift | hi<<(64-bwprog.CostShift)
	}
	if burst == 0 {
		burst = max(rate/8/uint64(time.Second/burstTime), minBurstBytes)
	}
	c := bwprog.Config{
		CostPerByte: cost,
		BurstNs:     ns(burst),
		MarkNs:      max(uint64(markTime), ns(markBytes)),
		SmallLen:    smallPacket,
	}
	c.DropNs = 2 * c.MarkNs
	c.CeilNs = c.DropNs + uint64(ceilExtra)
	if edt {
		c.Flags = bwprog.FlagEDT
		c.DropNs = uint64(edtHorizon)
		c.CeilNs = c.DropNs
	}
	return c
}

// ingressConfig is dirConfig for ingress. A packet dropped on ingress is a
// loss the sender must repair, and a repair that is itself dropped costs a
// retransmission timeout (>= 200 ms) of silence. So the virtual queue may
// run ahead by more than a timeout's worth of line time before dropping:
// the link then stays busy while the sender recovers. Marks (for ECN-capable
// flows) still start at the egress threshold. Long-term accuracy is
// unaffected: every passed byte is charged.
func ingressConfig(rate, burst uint64) bwprog.Config {
	c := dirConfig(rate, burst, false)
	if rate != 0 {
		c.DropNs = max(c.DropNs, c.MarkNs+uint64(ingressQueue))
		c.CeilNs = c.DropNs
	}
	return c
}
