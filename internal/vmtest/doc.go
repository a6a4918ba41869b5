// Package vmtest is the test bed's VM runner: it runs a Go test binary
// inside a qemu virtual machine booting a Debian cloud kernel with a pure
// cgroup v2 hierarchy, so tier-3 tests (func TestVM..., guarded by
// testutil.RequireVM) see real controllers even on hybrid-cgroup hosts.
//
// The command internal/vmtest/cmd/vmexec wraps Run for `go test -exec`;
// `make test-vm PKG=./cgroup RUN=TestVMMemory` builds and uses it.
//
// # What the VM offers
//
// qemu (TCG emulation, KVM is not used) boots the kernel provisioned by
// provision.sh (`make provision`) with an initramfs built here: busybox
// with its applets at /bin, /init, and the kernel modules veth, loop,
// sch_fq and null_blk (loaded at boot) plus a few optional ones (dummy, tun,
// overlay, sch_htb, sch_tbf, sch_netem, bridge, ...) with a modules.dep for
// modprobe. /init moves the root into a tmpfs (so pivot_root works), mounts
// proc, sysfs, devtmpfs, devpts, mqueue, tmpfs on /tmp, /run and /dev/shm,
// cgroup2 at /sys/fs/cgroup with every controller enabled in the root's
// cgroup.subtree_control, bpffs at /sys/fs/bpf, debugfs and tracefs, brings
// lo up, and runs the test binary as root in /test/pkg, a copy of the
// package's testdata/ directory (plus Config.Files or $CONFINE_VM_FILES,
// host files or directories copied to the same absolute paths, for what
// the VM cannot make itself, and Config.Programs or $CONFINE_VM_PROGRAMS,
// dynamically linked host programs carried with their interpreter and
// shared libraries: DynamicFiles), with CONFINE_VM=1 and CONFINE_STRICT=1 set
// (and GOTRACEBACK, GODEBUG, CONFINE_* and the names in CONFINE_VM_ENV
// passed from the host). The VM has 2 vCPUs and 2 GiB by default
// (CONFINE_VM_SMP, CONFINE_VM_MEM), no network but lo, a TSC clocksource
// and a wall clock set from the host. CONFINE_VM_APPEND adds to the kernel
// command line and CONFINE_VM_QEMU_ARGS to qemu's arguments, for debugging.
//
// The kernel console goes to the first serial port (kept in a log file and
// shown when the VM dies); the test's stdout and stderr go to the second, so
// kernel messages never mix with test output. After the test binary exits,
// /init prints a marker with a per-run nonce and its status on the second
// port and powers off.
//
// # Errors
//
// Run returns the test binary's exit status, or an error when the status
// is unknown; such a run must count as a failure: *MissingError (qemu,
// busybox or the kernel absent: the message names `make provision`),
// *TimeoutError (the watchdog, the -test.timeout value plus BootMargin,
// killed the VM), *NoMarkerError (the VM stopped without reporting, e.g. a
// kernel panic; it carries the console's last lines).
//
// # Limits
//
// Everything runs 5-10 times slower than natively: tests should compare
// ratios, not absolute times. Flags naming host files (-test.coverprofile,
// -test.cpuprofile, -test.testlogfile, ...) are not passed into the VM, and
// nothing the test writes comes back. Cached files live under
// $CONFINE_CACHE (default /var/cache/confine): the kernel and a base
// initramfs per kernel, busybox and /init version; each run writes only its
// own image (base + test binary + testdata) into a temporary directory.
// Not for production use: it is test infrastructure, Linux/amd64 only.
package vmtest
