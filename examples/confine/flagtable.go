package main

import (
	"errors"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
)

// Help groups, in the order --help shows them (docker's order where it
// has one).
const (
	grpFS   = "Filesystem"
	grpProc = "Process"
	grpNet  = "Network"
	grpRes  = "Resources (cgroup v2)"
	grpSec  = "Security"
	grpOut  = "Output"
)

var helpGroups = []string{grpFS, grpProc, grpNet, grpRes, grpSec, grpOut}

// runFlags is every `confine run` flag. Resource flags record which
// controller they need in usedFlags so a host that cannot honour one can
// name it.
var runFlags []flagDef

func init() {
	runFlags = []flagDef{
		{long: "rootfs", arg: "DIR", group: grpFS, def: "the host's root, read-only, with a fresh /dev and private tmpfs on /tmp, /run, /var/tmp, /dev/shm",
			help: "pivot into DIR with /proc, /sys (ro), a minimal /dev and masked paths",
			set:  func(o *options, v string) error { o.rootfs = v; return nonEmpty(v) }},
		{long: "read-only", group: grpFS, def: "false; always true without --rootfs", help: "mount the root filesystem read-only",
			set: func(o *options, v string) error { o.readOnly = v == "true"; return nil }},
		{long: "tmpfs", arg: "PATH[:OPTS]", group: grpFS, repeat: true,
			help: "mount a tmpfs at PATH; OPTS like size=64m,mode=1777 (default nosuid,nodev,noexec)",
			set:  func(o *options, v string) error { return o.addMount(mount.ParseTmpfs(v)) }},
		{long: "volume", short: "v", arg: "SRC:DST[:ro]", group: grpFS, repeat: true,
			help: "bind mount the host path SRC at DST (absolute paths; ro = read-only)",
			set:  func(o *options, v string) error { return o.addMount(mount.ParseVolume(v)) }},
		{long: "workdir", short: "w", arg: "DIR", group: grpFS, def: "/",
			help: "working directory inside the sandbox (absolute)", set: setWorkdir},

		{long: "env", short: "e", arg: "KEY=VAL", group: grpProc, repeat: true,
			help: "set an environment variable (KEY alone copies it from confine's environment)", set: addEnv},
		{long: "user", short: "u", arg: "UID[:GID]|NAME", group: grpProc, def: "0:0 (root)",
			help: "run as this user (a NAME is looked up in the sandbox's /etc/passwd)", set: setUser},
		{long: "init", group: grpProc, def: "false",
			help: "run an init as PID 1 that forwards signals and reaps orphans; the command becomes PID 2",
			set:  func(o *options, v string) error { o.init = v == "true"; return nil }},
		{long: "hostname", arg: "NAME", group: grpProc, def: "confine-<12 random hex digits>",
			help: "host name in the sandbox's own UTS namespace", set: setHostname},
		{long: "tty", short: "t", group: grpProc, def: "false",
			help: "give the command a pseudo-terminal owned by confine (controlling terminal and stdio; the caller's terminal in raw mode while it runs)",
			set:  func(o *options, v string) error { o.tty = v == "true"; return nil }},
		{long: "oom-score-adj", arg: "N", group: grpProc, def: "0",
			help: "the command's oom_score_adj, -1000..1000 (never inherited from confine)", set: setOOMScoreAdj},

		{long: "network", arg: "MODE", group: grpNet, def: "none",
			help: "none (own network namespace, only lo), host, or ns:PATH (join a namespace file)", set: setNetwork},
		{long: "egress-rate", arg: "RATE", group: grpNet, def: "unlimited",
			help: "limit sending, bits/s (10mbit, 1gbit, 500kbit); needs a BPF filesystem (mounted if missing)",
			set:  func(o *options, v string) error { r, err := parseRate(v); o.egressRate = r; return err }},
		{long: "ingress-rate", arg: "RATE", group: grpNet, def: "unlimited",
			help: "limit receiving, bits/s (as --egress-rate)",
			set:  func(o *options, v string) error { r, err := parseRate(v); o.ingressRate = r; return err }},

		{long: "memory", short: "m", arg: "SIZE", group: grpRes, def: "unlimited",
			help: "memory limit, binary units b, k, m, g (512m = 512 MiB); OOM ends the run with 137",
			set:  resFlag("memory", "--memory", func(d *DockerFlags, v string) { d.Memory = v })},
		{long: "memory-swap", arg: "SIZE", group: grpRes, def: "2x --memory",
			help: "memory plus swap limit; -1 unlimited; equal to --memory disables swap",
			set:  resFlag("memory", "--memory-swap", func(d *DockerFlags, v string) { d.MemorySwap = v })},
		{long: "memory-reservation", arg: "SIZE", group: grpRes, def: "none",
			help: "memory protected from reclaim (memory.low)",
			set:  resFlag("memory", "--memory-reservation", func(d *DockerFlags, v string) { d.MemoryReservation = v })},
		{long: "cpus", arg: "DECIMAL", group: grpRes, def: "unlimited",
			help: "CPU time limit in CPUs (0.5 = half a CPU: 50ms per 100ms period)",
			set:  resFlag("cpu", "--cpus", func(d *DockerFlags, v string) { d.CPUs = v })},
		{long: "cpu-shares", arg: "N", group: grpRes, def: "1024",
			help: "relative CPU weight, 2..262144 (converted to cpu.weight)",
			set:  resFlag("cpu", "--cpu-shares", func(d *DockerFlags, v string) { d.CPUShares = v })},
		{long: "cpuset-cpus", arg: "LIST", group: grpRes, def: "all",
			help: "CPUs allowed, e.g. 0-2,4", set: setCpuset},
		{long: "pids-limit", arg: "N", group: grpRes, def: "unlimited",
			help: "maximum number of tasks; 0 or -1 unlimited",
			set:  resFlag("pids", "--pids-limit", func(d *DockerFlags, v string) { d.PidsLimit = v })},
		{long: "device-read-bps", arg: "DEV:RATE", group: grpRes, repeat: true,
			help: "read limit for block device DEV, bytes/s (1mb, 10m)",
			set:  ioFlag("--device-read-bps", func(d *DockerFlags, v string) { d.DeviceReadBps = append(d.DeviceReadBps, v) })},
		{long: "device-write-bps", arg: "DEV:RATE", group: grpRes, repeat: true,
			help: "write limit for block device DEV, bytes/s",
			set:  ioFlag("--device-write-bps", func(d *DockerFlags, v string) { d.DeviceWriteBps = append(d.DeviceWriteBps, v) })},
		{long: "device-read-iops", arg: "DEV:N", group: grpRes, repeat: true,
			help: "read limit for block device DEV, operations/s",
			set:  ioFlag("--device-read-iops", func(d *DockerFlags, v string) { d.DeviceReadIOPS = append(d.DeviceReadIOPS, v) })},
		{long: "device-write-iops", arg: "DEV:N", group: grpRes, repeat: true,
			help: "write limit for block device DEV, operations/s",
			set:  ioFlag("--device-write-iops", func(d *DockerFlags, v string) { d.DeviceWriteIOPS = append(d.DeviceWriteIOPS, v) })},
		{long: "cgroup-parent", arg: "PATH", group: grpRes, def: "<cgroup v2 root>/confine",
			help: "parent cgroup (relative to the cgroup v2 root, or absolute in it)", set: setCgroupParent},

		{long: "security-opt", arg: "OPT", group: grpSec, repeat: true, def: "seccomp=builtin",
			help: "no-new-privileges[=true|false] (false is refused while the seccomp filter needs it), seccomp=unconfined or seccomp=PATH (Docker JSON profile)", set: setSecurityOpt},
		{long: "cap-add", arg: "CAP", group: grpSec, repeat: true, def: "docker's 14 default caps",
			help: "add a capability (NET_ADMIN, CAP_SYS_PTRACE, ALL)", set: addCap(true)},
		{long: "cap-drop", arg: "CAP", group: grpSec, repeat: true,
			help: "drop a capability, or ALL", set: addCap(false)},
		{long: "device", arg: "HOST[:CONTAINER][:rwm]", group: grpSec, repeat: true,
			help: "allow a device and bind it (read-only inode: I/O works, chmod/chown fail) into the sandbox's /dev; the default set is null, zero, full, random, urandom, tty, console, pts, ptmx",
			set:  addDevice},
		{long: "cgroupns", arg: "MODE", group: grpSec, def: "private",
			help: "private (a cgroup namespace rooted at the run's cgroup: /proc/self/cgroup shows 0::/) or host",
			set:  setCgroupns},

		{long: "stats", group: grpOut, def: "false",
			help: "print the run's resource usage as JSON to stderr (null = not measurable here)",
			set:  func(o *options, v string) error { o.stats = v == "true"; return nil }},
		{long: "help", short: "h", group: grpOut, help: "show this help",
			set: func(o *options, v string) error { o.help = v == "true"; return nil }},
	}
}

func (o *options) addMount(m mount.Mount, err error) error {
	if err != nil {
		var ce *mount.InvalidError
		if errors.As(err, &ce) {
			return errors.New(ce.Reason)
		}
		return err
	}
	o.mounts = append(o.mounts, m)
	return nil
}

// resFlag stores a docker resource flag after checking it on its own
// (with the conversion dockerd does), and records the controller it needs.
func resFlag(controller, flag string, store func(*DockerFlags, string)) func(*options, string) error {
	return func(o *options, v string) error {
		var alone DockerFlags
		store(&alone, v)
		if err := checkAlone(alone, v); err != nil {
			return err
		}
		store(&o.docker, v)
		o.useController(controller, flag)
		return nil
	}
}

// checkAlone converts one flag by itself; cross-flag rules (a swap limit
// needs a memory limit) are left to finish.
func checkAlone(d DockerFlags, v string) error {
	if d.MemorySwap != "" {
		if v == "-1" {
			return nil
		}
		_, err := cgroup.ParseSize(v)
		return err
	}
	_, err := d.Resources()
	var ie *cgroup.InvalidError
	if errors.As(err, &ie) {
		return errors.New(ie.Reason)
	}
	return err
}

func ioFlag(flag string, store func(*DockerFlags, string)) func(*options, string) error {
	return func(o *options, v string) error {
		if err := checkDeviceLimit(v); err != nil {
			return err
		}
		store(&o.docker, v)
		o.useController("io", flag)
		return nil
	}
}

func parseRate(v string) (uint64, error) {
	r, err := cgroup.ParseRate(v)
	if err != nil {
		var re *cgroup.RateError
		if errors.As(err, &re) {
			return 0, errors.New(re.Err.Error() + " (bits/s, e.g. 10mbit, 1gbit, 500kbit)")
		}
		return 0, err
	}
	if r < 1000 {
		return 0, errors.New("must be at least 1000 bits/s (1kbit)")
	}
	return r, nil
}

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func setCgroupParent(o *options, v string) error {
	if err := checkCgroupParent(v); err != nil {
		return err
	}
	o.cgroupParent = v
	return nil
}

func setCpuset(o *options, v string) error {
	if err := checkCPUList(v); err != nil {
		return err
	}
	o.docker.CpusetCpus = v
	o.useController("cpuset", "--cpuset-cpus")
	return nil
}
