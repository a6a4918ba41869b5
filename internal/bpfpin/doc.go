// Package bpfpin decides where confine pins the eBPF objects (links, maps)
// that belong to one cgroup, so that a restarted manager finds them again.
//
// Layout, shared by every confine feature that pins something for a cgroup
// (device filter, network bandwidth, ...):
//
//	/sys/fs/bpf/confine/cg-<cgroup id>/<object name>
//
// where <cgroup id> is the cgroup's kernfs inode number in decimal (the same
// 64-bit id bpf_get_current_cgroup_id and BPF link info report). Each feature
// uses its own object names inside that directory (e.g. "devices",
// "net-egress") and removes only its own pins; the last feature to leave
// removes the directory with RemoveDir, which refuses to delete a directory
// that still holds another feature's pins.
//
// Kernel requirements: a BPF filesystem mounted at /sys/fs/bpf. When it is
// not mounted, EnsureDir returns an *internal.UnsupportedError (matching
// internal.ErrNotSupported); callers then fall back to objects that survive
// without pins (e.g. legacy BPF_PROG_ATTACH) or report the error. This
// package never mounts anything.
//
// A cgroup removed without its features' cleanup (its manager was killed,
// then something else removed the directory) leaves its pin directory
// behind. GoneIDs finds such directories by asking the kernel whether each
// id still names a cgroup (CgroupGone: open_by_handle_at on the cgroup2
// filesystem, which needs CAP_DAC_READ_SEARCH), and each feature then
// sweeps its own pins there. It never reports a live cgroup, also while
// one is being created (see gone.go for why, without a lock).
//
// Do not use it for objects that must outlive the cgroup: the id is only
// unique while the cgroup exists, so unpin before removing the cgroup.
package bpfpin
