package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/confinelab/confine/cgroup"
)

// runStats is the --stats JSON. A nil pointer is printed as null: the host
// cannot measure it (its controller is not in cgroup v2 here, or no
// bandwidth limiter counted the traffic), which is not the same as 0.
type runStats struct {
	ExitCode          int     `json:"exit_code"`
	WallMs            int64   `json:"wall_ms"`
	CPUUsageUsec      *uint64 `json:"cpu_usage_usec"`
	CPUThrottledUsec  *uint64 `json:"cpu_throttled_usec"`
	MemoryPeakBytes   *uint64 `json:"memory_peak_bytes"`
	OOMKills          *uint64 `json:"oom_kills"`
	PidsPeak          *uint64 `json:"pids_peak"`
	IOReadBytes       *uint64 `json:"io_read_bytes"`
	IOWriteBytes      *uint64 `json:"io_write_bytes"`
	NetTxBytes        *uint64 `json:"net_tx_bytes"`
	NetRxBytes        *uint64 `json:"net_rx_bytes"`
	NetDelayedPackets *uint64 `json:"net_delayed_packets"`
	NetDroppedPackets *uint64 `json:"net_dropped_packets"`
}

// collectStats reads what the cgroup can tell after the run. Each group is
// read only when its files exist in the cgroup (the controller is enabled
// there), so nothing unmeasurable turns into a 0.
func collectStats(cg *cgroup.Cgroup, o *options, exit int, wall time.Duration) runStats {
	rs := runStats{ExitCode: exit, WallMs: wall.Milliseconds()}
	var s cgroup.Stats
	has := func(file string) bool {
		_, err := os.Stat(filepath.Join(cg.Path(), file))
		return err == nil
	}
	if has("cpu.stat") && cg.Stats(&s, cgroup.StatCPU) == nil {
		rs.CPUUsageUsec = ptr(s.CPU.UsageUsec)
		if has("cpu.max") { // throttling is counted only with the cpu controller
			rs.CPUThrottledUsec = ptr(s.CPU.ThrottledUsec)
		}
	}
	if has("memory.peak") && cg.Stats(&s, cgroup.StatMemory) == nil {
		rs.MemoryPeakBytes = ptr(s.Memory.Peak)
		rs.OOMKills = ptr(s.Memory.Events.OOMKill)
	}
	if has("pids.peak") && cg.Stats(&s, cgroup.StatPids) == nil {
		rs.PidsPeak = ptr(s.Pids.Peak)
	}
	if has("io.stat") && cg.Stats(&s, cgroup.StatIO) == nil {
		var r, w uint64
		for _, d := range s.IO.Devices {
			r += d.Rbytes
			w += d.Wbytes
		}
		rs.IOReadBytes, rs.IOWriteBytes = ptr(r), ptr(w)
	}
	if o.resources.Network != nil && cg.Stats(&s, cgroup.StatNetwork) == nil && s.Network.Limited {
		n := s.Network
		rs.NetTxBytes, rs.NetRxBytes = ptr(n.Egress.Bytes), ptr(n.Ingress.Bytes)
		rs.NetDelayedPackets = ptr(n.Egress.Delayed + n.Ingress.Delayed)
		rs.NetDroppedPackets = ptr(n.Egress.DroppedPackets + n.Ingress.DroppedPackets)
	}
	return rs
}

func ptr(v uint64) *uint64 { return &v }

func writeStats(w io.Writer, rs runStats) {
	b, err := json.Marshal(rs)
	if err != nil {
		fmt.Fprintf(w, "confine: encoding stats: %v\n", err)
		return
	}
	fmt.Fprintf(w, "%s\n", b)
}
