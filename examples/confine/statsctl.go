package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/confinelab/confine/cgroup"
)

// enableForStats makes --stats measure everything the host offers: the
// memory, pids, cpu and io controllers the parent offers are enabled for
// the run's cgroup (cgroup.EnableControllers, no limit set). Where a BPF
// filesystem is mounted, the bandwidth limiter is attached without rates
// to count the traffic. Where a controller is absent the stats stay null.
func enableForStats(h *cgroup.Hierarchy, o *options) {
	parent := parentPath(h, o.cgroupParent)
	offered := h.Controllers
	if b, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers")); err == nil {
		offered = strings.Fields(string(b))
	}
	for _, c := range []string{"memory", "pids", "cpu", "io"} {
		if contains(offered, c) {
			o.statControllers = append(o.statControllers, c)
		}
	}
	if o.resources.Network == nil && cgroup.HaveBPFFS() == nil {
		// Rates 0: nothing is limited, both directions are counted.
		o.resources.Network = &cgroup.Network{}
	}
}
