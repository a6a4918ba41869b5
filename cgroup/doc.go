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
// Unlimited"), checks that the unified root offers the controllers, reads
// the old value of every file it will write (not for a single write: if
// the kernel refuses it, nothing changed), then writes. A control file
// missing because its controller is not yet enabled for the cgroup makes
// it enable the controllers as above and try again, before anything else
// is written. If the kernel refuses a write, the files already written get
// their old values back and controllers the call enabled are disabled
// again; the kernel's error is returned as a *[StepError] that keeps the
// errno (errors.Is(err, unix.EINVAL)). New writes a fresh cgroup without
// reading first: a New that fails disables the controllers it enabled and
// removes the directories it made.
//
// # Raw unified keys
//
// [Resources].Unified carries OCI's and the CRI's "unified" map (the
// kubelet sends memory.high and memory.min there, and it is the CRI's
// only way to a container's pids.max): control files by name, decided as
// runc v1.1/v1.2 does (libcontainer/cgroups/fs2 setUnified). A key must
// be a file name (no slash) of the form CONTROLLER.PARAMETER; its
// controller must be available and is enabled for the cgroup like a
// typed field's (cgroup.* keys need none); values go to the kernel as
// given, a multi-line value one line per write; entries are written after
// every typed field, so they win. Where confine differs from runc:
// everything is checked before the first write and a refused write is
// rolled back (runc writes the typed fields, then explains a failed
// unified write); keys are written in sorted order (runc: Go map order);
// the typed write of a file Unified also sets is skipped rather than
// written first; a hybrid host's unified hierarchy takes Unified keys
// per controller, as it takes the typed fields (runc refuses Unified
// unless the whole host is cgroup v2); and keys that are not settings are
// refused: cgroup.* files other than cgroup.max.descendants,
// cgroup.max.depth and cgroup.pressure (moving processes, freezing,
// killing and enabling controllers have their own methods), PSI files
// (a trigger dies with the file descriptor that wrote it) and values
// with a NUL byte.
//
// # Observing
//
// [Cgroup.Stats] reads cpu.stat, memory.*, io.stat, pids.*, hugetlb.* and
// PSI into a caller-owned [Stats], selected by a [StatMask]. A reused Stats
// costs no allocation for CPU and memory. A file that is missing (the
// controller is not enabled, the kernel is too old: memory.peak needs
// 5.19, pids.peak 6.1) is an error, never a silent 0. The limits in force
// (cpu.max, memory.max, memory.swap.*, pids.max) are read back on request
// with the StatLimits groups, outside StatAll; [Cgroup.Controllers] says
// which groups a cgroup has files for.
//
// # Processes
//
// [Cgroup.AddProcess], [Cgroup.Processes] ([Cgroup.AllProcesses] with the
// descendants'), and [Cgroup.FD], an
// O_PATH|O_DIRECTORY|O_CLOEXEC fd for clone3 CLONE_INTO_CGROUP (Linux 5.7;
// syscall.SysProcAttr.UseCgroupFD). [Cgroup.Close] releases the fd
// (nil-safe, idempotent).
//
// # Freeze, Kill, WaitEmpty, Delete
//
// All waits are notifications, not sleep loops: kernfs wakes pollers of
// cgroup.events on every change, and ctx ends a wait. [Cgroup.Freeze]
// returns once cgroup.events says "frozen 1" (on ctx's end it thaws again);
// [Cgroup.Thaw] once it says "frozen 0". [Cgroup.Kill] writes cgroup.kill
// (Linux 5.14), or on older kernels freezes, SIGKILLs every listed process
// of the subtree and thaws; then it waits like [Cgroup.WaitEmpty] for
// "populated 0". A cgroup removed meanwhile gives an error matching
// os.ErrNotExist, not the fallback. In a threaded cgroup the kernel refuses cgroup.kill and
// cgroup.procs (EOPNOTSUPP): the error matches [ErrNotSupported].
//
// [Cgroup.Delete] detaches the cgroup's device and network programs and
// removes their pins (a cgroup value that attached none looks only for
// its pin directory, which a restarted manager's Open finds too; programs
// attached without a pin go with the cgroup), removes the cgroup and its
// descendants deepest first and closes c. A busy directory is waited for with WaitEmpty (Delete: at
// most 10 s; [Cgroup.DeleteContext]: until ctx ends). It does not kill
// unless asked ([DeleteOptions].Kill, or Kill first); a cgroup that stays
// populated gives an error wrapping EBUSY, naming the directory and
// carrying the wait's error.
//
// # Devices
//
// [Resources].Devices is a list of [DeviceRule]s enforced by a cgroup
// device eBPF program. The list starts from "every device denied"; for
// each access bit (read, write, mknod) of a request the last rule that
// matches the device and names that bit decides, and a bit no rule names
// is denied (the OCI spec's and cgroup v1's semantics). A nil list leaves
// the program alone, an empty one denies every device; [DefaultDevices]
// is Docker's and runc's allowlist. Every update replaces the program: it
// never piles up (runc #2366). Where a BPF filesystem is mounted at
// /sys/fs/bpf the program is attached through a bpf_link pinned at
// /sys/fs/bpf/confine/cg-<cgroup id>/devices, which a restarted manager
// updates in place, and cgroups with the same rules share one loaded
// program (pinned at /sys/fs/bpf/confine/dev-<hash>/prog while any of them
// uses it: the verifier runs once, not per cgroup); without one it is
// loaded per cgroup and attached with BPF_PROG_ATTACH. A cgroup removed
// without Delete (its manager killed, the directory removed by someone
// else) leaves its pins; the next cgroup applying or deleting the same
// rules removes them, and [SweepPins] removes all such pins at once.
// Needs Linux 4.15 (5.7 for links). Applying rules and Delete remove EVERY
// device program on the cgroup, foreign ones included: do not set Devices
// on a cgroup whose device policy another manager owns (systemd's
// DevicePolicy, a container runtime).
//
// # Events
//
// A [Watcher] delivers typed [Event]s (populated, empty, frozen, thawed,
// OOM, OOM kill, removed, error) for many cgroups from one inotify
// instance and one goroutine: no fd or goroutine per cgroup. It watches
// cgroup.events, memory.events where the memory controller is enabled at
// [Watcher.Add], and each cgroup's parent directory, because the kernel
// signals a removed cgroup only there. Changes between two reads are
// merged; OOM counts stay exact. [Watcher.Close] stops it.
//
// # Network
//
// [Resources].Network limits the bandwidth of sockets created inside the
// cgroup with cgroup_skb eBPF programs: egress by earliest-departure-time
// pacing where the egress device has an fq qdisc ([Network].EDT,
// netns.InstallFQ), else by a virtual queue that marks ECN, notifies
// congestion and finally drops; ingress by the same virtual queue, which
// marks long before it drops (marks reach only connections that negotiated
// ECN, which Linux asks for when net.ipv4.tcp_ecn is 1). In the
// virtual-queue mode no packet is ever held, so the limiter adds no
// queueing delay, and the TCP connections of a saturated cgroup share its
// rate: a connection within an equal share passes where the ones beyond
// theirs are signalled and dropped (per-socket state the kernel frees
// with the socket). Rates change live with Apply; counters are read
// through Stats; Delete detaches and unpins, and a cgroup removed without
// Delete leaves its limiter pinned until [SweepPins]. Needs Linux 5.12
// (BPF atomics), bpf_link on cgroups (5.7) and a BPF filesystem at
// /sys/fs/bpf (the links and maps are pinned below
// /sys/fs/bpf/confine/cg-<id>); otherwise the error matches
// [ErrNotSupported]. Only sockets created by a process in the cgroup are
// limited: a socket created elsewhere and passed in is not.
//
// # Conversions
//
// [FromOCI] converts runtime-spec LinuxResources as runc does,
// [KubernetesCPU] and [KubernetesMemory] convert Kubernetes quantities as
// the kubelet does; the unit conversions runtimes share are here too
// ([SharesToWeight], [BlkioToIOWeight], [SwapMax], [ParseSize], [CPUs]).
// A command-line tool's flags (docker run's --cpus, --memory, ...) are
// the tool's business: examples/confine converts them with these.
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
