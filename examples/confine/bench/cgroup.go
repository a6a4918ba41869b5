package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/confinelab/confine/cgroup"
)

// cgroupRows times the cgroup package's main calls on this host's cgroup
// v2 hierarchy.
func cgroupRows(n int) ([]row, error) {
	h, err := cgroup.Detect()
	if err != nil {
		return nil, err
	}
	base := filepath.Join(h.Root, fmt.Sprintf("confine-bench-%d", os.Getpid()))
	note := "controllers in v2 here: " + strings.Join(h.Controllers, ", ")
	var r cgroup.Resources
	if len(h.HugePageSizes) > 0 && contains(h.Controllers, "hugetlb") {
		r.HugeTLB = []cgroup.HugeTLB{{PageSize: h.HugePageSizes[0], Max: 1 << 30}}
	}
	if contains(h.Controllers, "pids") {
		r.Pids = &cgroup.Pids{Max: 100}
	}
	cg, err := cgroup.New(filepath.Join(base, "apply"), r)
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = cg.Delete()
		_ = os.Remove(base)
	}()
	i := 0
	create, err := median(n, func() error {
		i++
		cg, err := cgroup.New(filepath.Join(base, fmt.Sprint(i)), cgroup.Resources{})
		if err != nil {
			return err
		}
		return cg.Delete()
	})
	if err != nil {
		return nil, fmt.Errorf("cgroup create/delete: %w", err)
	}
	apply, err := median(n, func() error { return cg.Apply(r) })
	if err != nil {
		return nil, fmt.Errorf("cgroup apply: %w", err)
	}
	var s cgroup.Stats
	const batch = 100
	stats, err := median(n, func() error {
		for j := 0; j < batch; j++ {
			if err := cg.Stats(&s, cgroup.StatCPU); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cgroup stats: %w", err)
	}
	return []row{
		{"cgroup: New + Delete (empty)", fmtDur(create), note},
		{"cgroup: Apply", fmtDur(apply), applyNote(r)},
		{"cgroup: Stats(StatCPU)", fmtDur(stats / batch), "cpu.stat read and parsed into a reused Stats"},
	}, nil
}

func applyNote(r cgroup.Resources) string {
	var parts []string
	for _, h := range r.HugeTLB {
		parts = append(parts, "hugetlb."+h.PageSize+".max")
	}
	if r.Pids != nil {
		parts = append(parts, "pids.max")
	}
	if len(parts) == 0 {
		return "nothing to write here"
	}
	return "writes " + strings.Join(parts, ", ") + ", validated first"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
