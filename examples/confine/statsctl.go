package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/confinelab/confine/cgroup"
)

// enableForStats makes --stats measure everything the host offers: the
// memory, pids and cpu controllers are enabled with no-op "max" limits
// when no flag asked for them, and io (which has no such no-op) is enabled
// in the parent's cgroup.subtree_control. Where a BPF filesystem is
// mounted, the bandwidth limiter is attached without rates to count the
// traffic. Where a controller is absent the stats stay null.
func enableForStats(h *cgroup.Hierarchy, o *options) {
	parent := parentPath(h, o.cgroupParent)
	offered := h.Controllers
	if b, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers")); err == nil {
		offered = strings.Fields(string(b))
	}
	r := &o.resources
	if contains(offered, "memory") && r.Memory == nil {
		r.Memory = &cgroup.Memory{Max: cgroup.Unlimited}
	}
	if contains(offered, "pids") && r.Pids == nil {
		r.Pids = &cgroup.Pids{Max: cgroup.Unlimited}
	}
	if contains(offered, "cpu") && (r.CPU == nil || r.CPU.Max == nil && r.CPU.Weight == 0) {
		if r.CPU == nil {
			r.CPU = &cgroup.CPU{}
		}
		r.CPU.Max = &cgroup.CPUMax{Quota: cgroup.Unlimited}
	}
	if r.Network == nil && cgroup.HaveBPFFS() == nil {
		// Rates 0: nothing is limited, both directions are counted.
		r.Network = &cgroup.Network{}
	}
	if contains(offered, "io") && r.IO == nil {
		if err := os.MkdirAll(parent, 0o755); err == nil {
			// Best effort: without it io_read_bytes stays null.
			_ = os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+io"), 0)
		}
	}
}
