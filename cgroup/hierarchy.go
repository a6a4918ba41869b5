package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/confinelab/confine/internal"
)

// Hierarchy describes the host's cgroup layout as this package sees it.
type Hierarchy struct {
	// Root is the mount point of the unified (v2) hierarchy:
	// /sys/fs/cgroup on pure v2 hosts, /sys/fs/cgroup/unified on hybrid ones.
	Root string
	// Hybrid is true when cgroup v1 hierarchies are mounted beside it.
	Hybrid bool
	// Controllers lists the controllers the v2 root offers
	// (its cgroup.controllers).
	Controllers []string
	// V1 maps controllers bound to a cgroup v1 hierarchy to the v1 mount
	// point ("" when bound but not mounted in this mount namespace).
	V1 map[string]string
	// HugePageSizes lists the hugetlb page sizes as the hugetlb controller
	// names them ("2MB", "1GB").
	HugePageSizes []string
}

var detectOnce = sync.OnceValues(detect)

// Detect finds the unified hierarchy and which controllers it offers. The
// result is computed once per process; the layout of a running host does
// not change under a program in practice.
func Detect() (*Hierarchy, error) {
	return detectOnce()
}

func detect() (*Hierarchy, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, internal.Errorf("reading mountinfo", err)
	}
	mt := parseMountinfo(mi)
	root := pickUnified(mt.unified)
	if root == "" {
		return nil, &internal.UnsupportedError{Feature: "cgroup v2", Reason: "no cgroup2 mount found"}
	}
	h := &Hierarchy{Root: root, V1: map[string]string{}}
	if pc, err := os.ReadFile("/proc/cgroups"); err == nil {
		for name := range parseProcCgroups(pc) {
			h.V1[name] = mt.v1[name]
		}
	}
	for name, mnt := range mt.v1 {
		h.V1[name] = mnt
	}
	// Controllers on v1, or the v2 tree in its hybrid location (systemd's
	// "unified" layout keeps a named v1 hierarchy at /sys/fs/cgroup/systemd).
	h.Hybrid = len(mt.v1) > 0 || root == "/sys/fs/cgroup/unified"
	ctl, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return nil, internal.Errorf("reading root cgroup.controllers", err)
	}
	h.Controllers = strings.Fields(string(ctl))
	h.HugePageSizes = hugePageSizes("/sys/kernel/mm/hugepages")
	return h, nil
}

// pickUnified prefers the conventional locations over any other cgroup2
// mount (a container runtime's private mount, a test's).
func pickUnified(mounts []string) string {
	for _, want := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if slices.Contains(mounts, want) {
			return want
		}
	}
	if len(mounts) > 0 {
		return mounts[0]
	}
	return ""
}

// hugePageSizes lists hugepages-<N>kB directories and names them the way
// the hugetlb controller names its files.
func hugePageSizes(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var sizes []string
	for _, e := range ents {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		kb, ok = strings.CutSuffix(kb, "kB")
		if !ok {
			continue
		}
		if s := hugeName(kb); s != "" {
			sizes = append(sizes, s)
		}
	}
	return sizes
}

// hugeName turns a size in kB into the kernel's mem_fmt form: the largest
// unit (GB, MB, KB) that divides it.
func hugeName(kb string) string {
	var n uint64
	for _, c := range kb {
		if c < '0' || c > '9' {
			return ""
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case n == 0:
		return ""
	case n%(1<<20) == 0:
		return itoa(n>>20) + "GB"
	case n%(1<<10) == 0:
		return itoa(n>>10) + "MB"
	}
	return itoa(n) + "KB"
}

// checkControllers verifies, before anything is written, that the unified
// root offers every controller in need. A controller bound to v1 gives a
// *V1BoundError.
func (h *Hierarchy) checkControllers(need []string) error {
	for _, c := range need {
		if slices.Contains(h.Controllers, c) {
			continue
		}
		if mnt, ok := h.V1[c]; ok {
			return &V1BoundError{Controller: c, Mount: mnt}
		}
		return &ControllerError{Controller: c, Path: h.Root,
			Reason: "not offered by the cgroup v2 root (not built into the kernel or disabled)"}
	}
	return nil
}

// resolve turns a caller's path into an absolute path inside the unified
// hierarchy: relative paths are taken from the root, absolute ones must
// lie below it.
func (h *Hierarchy) resolve(path string) (string, error) {
	if path == "" {
		return "", invalid("path", path, "must name a cgroup below "+h.Root)
	}
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(h.Root, p)
	}
	p = filepath.Clean(p)
	rel, err := filepath.Rel(h.Root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", invalid("path", path, "not inside the cgroup v2 hierarchy at "+h.Root)
	}
	return p, nil
}
