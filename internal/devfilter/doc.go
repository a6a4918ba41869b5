// Package devfilter builds and attaches the cgroup v2 device-access eBPF
// program (BPF_PROG_TYPE_CGROUP_DEVICE) that enforces a list of device rules.
//
// # Rule semantics
//
// The rules follow the OCI runtime spec (linux.resources.devices, "the
// runtime MUST apply entries in the listed order") and cgroup v1's
// devices.allow/devices.deny, which that order was written for: start from
// "everything denied", then apply each rule in order, each one allowing or
// denying its access bits (r, w, m) for the devices it matches. The result
// is that, for every access bit of a request, the LAST rule in the list that
// matches the device (type, major, minor; 'a' and Wildcard match anything)
// and names that bit decides it; a bit no rule names is denied. A request
// (e.g. open O_RDWR asks for r and w) is allowed only when all of its bits
// are. runc's devicefilter gets the same result by running rules in
// reverse order after normalising them through an emulator. Here the
// decision is computed ahead: the devices the rules name split the device
// space into cells (a type; a major a rule names, or any other; a minor a
// rule names for that major, or any other) that every rule matches whole,
// and the program is a decision tree over the cells, each leaf allowing
// the access bits Evaluate grants a device of the cell. A later partial
// deny (deny w) thus overrides an earlier allow rwm for w only, and the
// verifier checks the tree in a fraction of the time a rule-by-rule
// program takes (BenchmarkLoad: 0.17 against 0.62 ms for Docker's default
// rules). A list whose tree would be large (hundreds of distinct devices)
// gets the rule-by-rule program instead, which tracks per request which
// bits a later rule already decided.
//
// Evaluate computes the same decision in plain Go; tests compare the two.
// BPF_PROG_TEST_RUN cannot run cgroup device programs (checked on Linux
// 6.18: "kernel doesn't support running CGroupDevice"), so the comparison
// is made through real open(2) and mknod(2) calls of a child process in a
// cgroup carrying the program: EPERM means the program denied, anything
// else (success, or ENXIO from a device node without a driver) that it
// allowed.
//
// # Attachment
//
// Attach installs the program on a cgroup directory so that an update
// REPLACES the previous device program instead of adding one more (runc
// #2366: programs piled up until attaching failed with E2BIG at 64). With a
// pin path (a BPF filesystem is mounted) the program is attached through a
// bpf_link that is pinned there and later updated in place with
// BPF_LINK_UPDATE; a restarted manager finds the pin. Without a pin path it
// uses BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI|BPF_F_REPLACE, which keeps the
// program attached without any open fd. In both cases every other device
// program found on the cgroup with BPF_PROG_QUERY afterwards is detached.
//
// AttachShared is the same with the link path, for a program shared by
// every cgroup with the same rules: it is loaded once and pinned next to
// its users' links (see shared.go for the layout), and Release unpins it
// when its last user leaves. That path issues bpf(2) itself (sys.go)
// rather than through cilium/ebpf, whose per-process feature probes cost a
// short-lived launcher more than the attach.
//
// A cgroup removed without DetachShared (its manager was killed, then
// someone else removed the directory) is a stale user: its pins would keep
// its defunct link and the shared program loaded for good. A sweep removes
// a user's pins once the kernel no longer finds its cgroup by id
// (open_by_handle_at on the cgroup2 filesystem fails with ESTALE), then the
// program when no user is left, as Release does. AttachShared and
// DetachShared sweep the directories of the programs they attach and
// release, so the next user of the same rules cleans up; Sweep cleans the
// whole pin tree. A live cgroup's pins are never swept (see sweep.go for
// why, without a lock); the sweep needs CAP_DAC_READ_SEARCH and leaves
// everything in place without it.
//
// # Kernel requirements
//
// Linux 4.15 (cgroup device programs), 5.7 for bpf_link on cgroups, 5.6 for
// BPF_F_REPLACE; root (CAP_SYS_ADMIN or CAP_BPF+CAP_NET_ADMIN). The program
// works on any cgroup v2 directory, with or without controllers enabled.
// Errors wrap the errno with a verb-noun prefix.
//
// # When not to use it
//
// Do not attach to a cgroup whose device programs are managed by someone
// else (systemd's DevicePolicy): Attach and Detach remove every device
// program they find on the cgroup.
package devfilter
