// Package cgroup manages cgroup v2 groups: create, limit, observe and tear
// down, with limits the kernel enforces.
//
// # Hierarchy
//
// Only the unified (v2) hierarchy is used: /sys/fs/cgroup on pure v2 hosts,
// /sys/fs/cgroup/unified on hybrid ones ([Detect] finds it from
// /proc/self/mountinfo and /proc/cgroups). On a hybrid host most
// controllers are bound to cgroup v1 and the v2 root does not offer them;
// asking for one gives a *[V1BoundError] ("controller "memory" is bound to
// cgroup v1 on this host") before anything is written. Cgroup v1 is never
// touched.
//
// # Creating and limiting
//
// [New] creates a cgroup by path (relative to the unified root, or
// absolute inside it) and applies [Resources]; [Open] opens an existing
// one. The delegation boundary is the deepest ancestor that existed before
// New ran (for Open: the parent). Controllers a Resources needs are enabled
// top-down in cgroup.subtree_control from the boundary to the cgroup's
// parent, never above the boundary; the boundary must offer them in its
// cgroup.controllers. The no-internal-process rule (a cgroup with
// processes cannot enable controllers for children) is reported as a
// *[ControllerError] wrapping EBUSY; [Cgroup.MoveProcessesToLeaf] moves
// processes down to a leaf first. Threaded cgroups: [Cgroup.SetThreaded],
// [Cgroup.AddThread]; operations the kernel refuses there (EOPNOTSUPP)
// match [ErrNotSupported].
//
// Resources is a plain value: a nil sub-struct or a zero field leaves the
// kernel's value alone, [Unlimited] writes "max", [Zero] writes 0. Apply
// validates every field first (a bad one gives an *[InvalidError] naming
// field and value, e.g. "cgroup: Memory.Max: -5: must be >= 0, Zero or
// Unlimited"), checks the controllers, reads the old value of every file it
// will write, then writes. If the kernel refuses a write, the files
// already written get their old values back and controllers the call
// enabled are disabled again; the kernel's error is returned as a
// *[FileError] that keeps the errno (errors.Is(err, unix.EINVAL)). A New
// that fails removes the directories it made.
//
// # Observing
//
// [Cgroup.Stats] reads cpu.stat, memory.*, io.stat, pids.*, hugetlb.* and
// PSI into a caller-owned [Stats], selected by a [StatMask]. A reused Stats
// costs no allocation for CPU and memory. A file that is missing (the
// controller is not enabled, the kernel is too old: memory.peak needs
// 5.19, pids.peak 6.1) is an error, never a silent 0.
//
// # Processes
//
// [Cgroup.AddProcess], [Cgroup.Processes], and [Cgroup.FD], an
// O_PATH|O_DIRECTORY|O_CLOEXEC fd for clone3 CLONE_INTO_CGROUP (Linux 5.7;
// syscall.SysProcAttr.UseCgroupFD). [Cgroup.Delete] removes the cgroup and
// its descendants deepest first, waiting (through inotify on
// cgroup.events) for exiting processes to leave; it does not kill: use
// [Cgroup.Kill]. [Cgroup.Close] releases the fd (nil-safe, idempotent).
//
// # Conversions
//
// [DockerFlags] converts `docker run` flags (--cpus, --memory,
// --memory-swap, --cpu-shares, ...), [KubernetesCPU] and
// [KubernetesMemory] convert Kubernetes quantities as the kubelet does,
// [FromOCI] converts runtime-spec LinuxResources as runc does.
//
// # Requirements and when not to use it
//
// Linux with cgroup v2 mounted (4.15+; cpu.max.burst needs 5.14, cpu.idle
// 5.15, cgroup.kill 5.14), and write access to the delegated subtree
// (root, or a delegated systemd unit). Do not use it on a cgroup managed
// by systemd or another manager that rewrites the same files: the last
// writer wins. A Cgroup's methods are safe for concurrent use, but
// concurrent Apply calls on one cgroup interleave their writes.
package cgroup
