package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
)

// plan is config.json turned into library values. Conversion does no I/O:
// namespace paths are opened, the cgroup made and the sandbox started by
// the lifecycle (create.go).
type plan struct {
	cmd        *namespace.Cmd // no stdio, gate, cgroup or joins yet
	joins      []joinPath     // namespaces to enter, opened at create
	resources  cgroup.Resources
	cgroupPath string // relative to (or absolute inside) the v2 root
	terminal   bool
	umask      int // -1: the runtime's own
	hooks      specs.Hooks
	warnings   []string // what create logs: config the kernel would ignore
}

type joinPath struct {
	kind namespace.Kind
	path string
	oci  string // e.g. "linux.namespaces[2].path"
}

// convert checks spec and maps it onto the library. bundle is absolute;
// id names the default cgroup.
func convert(spec *specs.Spec, bundle, id string) (*plan, error) {
	if err := checkUnsupported(spec); err != nil {
		return nil, err
	}
	p := &plan{cmd: &namespace.Cmd{}, umask: -1}
	steps := []func(*specs.Spec, *plan) error{
		convertProcess, convertNamespaces, convertIDMaps, convertHooks,
		convertResources, convertSeccomp, convertSysctl, convertBandwidth,
	}
	for _, step := range steps {
		if err := step(spec, p); err != nil {
			return nil, err
		}
	}
	if err := convertRoot(spec, bundle, p); err != nil {
		return nil, err
	}
	if err := convertCgroupsPath(spec.Linux.CgroupsPath, id, p); err != nil {
		return nil, err
	}
	p.cmd.Hostname, p.cmd.Domainname = spec.Hostname, spec.Domainname
	return p, nil
}

// checkUnsupported refuses fields this runtime cannot honour.
func checkUnsupported(s *specs.Spec) error {
	if !strings.HasPrefix(s.Version, "1.") {
		return &ConfigError{Field: "ociVersion", Value: s.Version, Reason: "must be a 1.x runtime-spec version"}
	}
	switch {
	case s.Process == nil:
		return &ConfigError{Field: "process", Value: "", Reason: "required"}
	case len(s.Process.Args) == 0 || s.Process.Args[0] == "":
		return &ConfigError{Field: "process.args", Value: "", Reason: "must name a command"}
	case s.Root == nil || s.Root.Path == "":
		return &ConfigError{Field: "root.path", Value: "", Reason: "required"}
	case s.Linux == nil:
		return &ConfigError{Field: "linux", Value: "", Reason: "required on Linux"}
	}
	pr, l := s.Process, s.Linux
	for _, u := range []struct {
		set         bool
		field, val  string
		explanation string
	}{
		{pr.ApparmorProfile != "", "process.apparmorProfile", pr.ApparmorProfile, "no AppArmor support"},
		{pr.SelinuxLabel != "", "process.selinuxLabel", pr.SelinuxLabel, "no SELinux support"},
		{l.MountLabel != "", "linux.mountLabel", l.MountLabel, "no SELinux support"},
		{pr.Scheduler != nil, "process.scheduler", "set", ""},
		{pr.IOPriority != nil, "process.ioPriority", "set", ""},
		{pr.ExecCPUAffinity != nil, "process.execCPUAffinity", "set", ""},
		{pr.ConsoleSize != nil && !pr.Terminal, "process.consoleSize", "set", "only with process.terminal"},
		{pr.User.Username != "", "process.user.username", pr.User.Username, "Windows only"},
		{l.IntelRdt != nil, "linux.intelRdt", "set", "no resctrl support"},
		{l.MemoryPolicy != nil, "linux.memoryPolicy", "set", ""},
		{l.Personality != nil, "linux.personality", "set", ""},
		{len(l.NetDevices) > 0, "linux.netDevices", strconv.Itoa(len(l.NetDevices)), ""},
		{len(l.TimeOffsets) > 0, "linux.timeOffsets", strconv.Itoa(len(l.TimeOffsets)), ""},
		{s.Solaris != nil || s.Windows != nil || s.VM != nil || s.ZOS != nil || s.FreeBSD != nil, "platform section", "set", "Linux only"},
	} {
		if u.set {
			return &UnsupportedError{Field: u.field, Value: u.val, Reason: u.explanation}
		}
	}
	return nil
}

func convertProcess(s *specs.Spec, p *plan) error {
	pr, c := s.Process, p.cmd
	c.Path, c.Args = pr.Args[0], pr.Args
	c.Env = append([]string{}, pr.Env...) // never the runtime's own
	c.Dir = pr.Cwd
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return &ConfigError{Field: "process.cwd", Value: pr.Cwd, Reason: "must be an absolute path"}
	}
	c.Credential = &namespace.Credential{UID: pr.User.UID, GID: pr.User.GID, Groups: append([]uint32{}, pr.User.AdditionalGids...)}
	if pr.User.Umask != nil {
		if *pr.User.Umask > 0o777 {
			return &ConfigError{Field: "process.user.umask", Value: strconv.FormatUint(uint64(*pr.User.Umask), 8), Reason: "must be at most 0777"}
		}
		p.umask = int(*pr.User.Umask)
	}
	// noNewPrivileges false is the config speaking: a seccomp filter is
	// then loaded without no_new_privs, as runc does (see
	// namespace.Cmd.AllowNewPrivileges).
	c.NoNewPrivileges, c.AllowNewPrivileges = pr.NoNewPrivileges, !pr.NoNewPrivileges
	c.OOMScoreAdj = pr.OOMScoreAdj
	p.terminal = pr.Terminal
	caps, err := convertCaps(pr.Capabilities)
	if err != nil {
		return err
	}
	c.Capabilities = caps
	for i, r := range pr.Rlimits {
		res, ok := rlimitNames[r.Type]
		if !ok {
			return &ConfigError{Field: fmt.Sprintf("process.rlimits[%d].type", i), Value: r.Type, Reason: "unknown resource"}
		}
		if r.Soft > r.Hard {
			return &ConfigError{Field: fmt.Sprintf("process.rlimits[%d].soft", i), Value: strconv.FormatUint(r.Soft, 10), Reason: "above the hard limit"}
		}
		c.Rlimits = append(c.Rlimits, namespace.Rlimit{Resource: res, Cur: r.Soft, Max: r.Hard})
	}
	return nil
}

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// convertCaps maps the five sets. A nil section means no capabilities at
// all (runc's behaviour), not the runtime's own.
func convertCaps(lc *specs.LinuxCapabilities) (*namespace.Capabilities, error) {
	if lc == nil {
		return &namespace.Capabilities{}, nil
	}
	out := &namespace.Capabilities{}
	for _, set := range []struct {
		name  string
		names []string
		dst   *namespace.CapSet
	}{
		{"bounding", lc.Bounding, &out.Bounding}, {"effective", lc.Effective, &out.Effective},
		{"inheritable", lc.Inheritable, &out.Inheritable}, {"permitted", lc.Permitted, &out.Permitted},
		{"ambient", lc.Ambient, &out.Ambient},
	} {
		for i, n := range set.names {
			c, err := namespace.ParseCap(n)
			if err != nil || !strings.HasPrefix(strings.ToUpper(n), "CAP_") {
				return nil, &ConfigError{Field: fmt.Sprintf("process.capabilities.%s[%d]", set.name, i), Value: n, Reason: "unknown capability", Err: err}
			}
			*set.dst |= namespace.NewCapSet(c)
		}
	}
	// The kernel drops ambient capabilities not in permitted and
	// inheritable; runc tolerates the mismatch, so does this.
	out.Ambient &= out.Permitted & out.Inheritable
	out.Effective &= out.Permitted
	return out, nil
}

var nsKinds = map[specs.LinuxNamespaceType]namespace.Kind{
	specs.PIDNamespace: namespace.PID, specs.NetworkNamespace: namespace.NET,
	specs.MountNamespace: namespace.MNT, specs.IPCNamespace: namespace.IPC,
	specs.UTSNamespace: namespace.UTS, specs.UserNamespace: namespace.USER,
	specs.CgroupNamespace: namespace.CGROUP, specs.TimeNamespace: namespace.TIME,
}

func convertNamespaces(s *specs.Spec, p *plan) error {
	seen := map[namespace.Kind]bool{}
	for i, ns := range s.Linux.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		k, ok := nsKinds[ns.Type]
		if !ok {
			return &ConfigError{Field: field + ".type", Value: string(ns.Type), Reason: "unknown namespace type"}
		}
		if seen[k] {
			return &ConfigError{Field: field + ".type", Value: string(ns.Type), Reason: "listed twice"}
		}
		seen[k] = true
		if ns.Path == "" {
			p.cmd.Namespaces = append(p.cmd.Namespaces, k)
			continue
		}
		if k == namespace.USER {
			return &UnsupportedError{Field: field + ".path", Value: ns.Path, Reason: namespace.ErrMultithreadedUserns.Error()}
		}
		if !filepath.IsAbs(ns.Path) {
			return &ConfigError{Field: field + ".path", Value: ns.Path, Reason: "must be absolute"}
		}
		p.joins = append(p.joins, joinPath{kind: k, path: ns.Path, oci: field + ".path"})
	}
	// A mount namespace joined by path gets the root built in it (the
	// library pivots that namespace); sharing the runtime's own would put
	// the container's mounts in the host's mount table.
	if !seen[namespace.MNT] {
		return &UnsupportedError{Field: "linux.namespaces", Value: "no mount namespace",
			Reason: "the root and its mounts would be built in the runtime's own mount namespace (the host's)"}
	}
	// A hostname renames the container's UTS namespace, new or joined by
	// path, never the runtime's own.
	utsJoined := slices.ContainsFunc(p.joins, func(j joinPath) bool { return j.kind == namespace.UTS })
	for _, f := range []struct {
		set   bool
		field string
		kind  namespace.Kind
	}{{s.Hostname != "", "hostname", namespace.UTS}, {s.Domainname != "", "domainname", namespace.UTS}} {
		if f.set && !p.cmd.Namespaces.Has(f.kind) && !utsJoined {
			return &ConfigError{Field: f.field, Value: s.Hostname, Reason: "needs a uts namespace of the container's own (new or joined by path)"}
		}
	}
	return nil
}

func convertIDMaps(s *specs.Spec, p *plan) error {
	conv := func(in []specs.LinuxIDMapping) []namespace.IDMap {
		var out []namespace.IDMap
		for _, m := range in {
			out = append(out, namespace.IDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		return out
	}
	p.cmd.UIDMappings = conv(s.Linux.UIDMappings)
	p.cmd.GIDMappings = conv(s.Linux.GIDMappings)
	if (len(p.cmd.UIDMappings) > 0 || len(p.cmd.GIDMappings) > 0) && !p.cmd.Namespaces.Has(namespace.USER) {
		return &ConfigError{Field: "linux.uidMappings", Value: strconv.Itoa(len(p.cmd.UIDMappings)), Reason: "mappings need a new user namespace"}
	}
	return nil
}

func convertHooks(s *specs.Spec, p *plan) error {
	if s.Hooks == nil {
		return nil
	}
	h := *s.Hooks
	if len(h.CreateContainer) > 0 {
		return &UnsupportedError{Field: "hooks.createContainer", Value: h.CreateContainer[0].Path, Reason: "hooks in the container's namespaces are not implemented yet"}
	}
	if len(h.StartContainer) > 0 {
		return &UnsupportedError{Field: "hooks.startContainer", Value: h.StartContainer[0].Path, Reason: "hooks in the container's namespaces are not implemented yet"}
	}
	for name, list := range map[string][]specs.Hook{
		//lint:ignore SA1019 deprecated, but engines (Docker) still send prestart hooks and runc runs them
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime,
		"poststart": h.Poststart, "poststop": h.Poststop,
	} {
		for i, hk := range list {
			if !filepath.IsAbs(hk.Path) {
				return &ConfigError{Field: fmt.Sprintf("hooks.%s[%d].path", name, i), Value: hk.Path, Reason: "must be absolute"}
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return &ConfigError{Field: fmt.Sprintf("hooks.%s[%d].timeout", name, i), Value: strconv.Itoa(*hk.Timeout), Reason: "must be > 0"}
			}
		}
	}
	p.hooks = h
	return nil
}

// convertResources goes through cgroup.FromOCI; the device rules get
// the default allowlist appended, as runc does.
func convertResources(s *specs.Spec, p *plan) error {
	r, err := cgroup.FromOCI(s.Linux.Resources)
	if err != nil {
		return &ConfigError{Field: "linux.resources", Value: "", Reason: "cannot be converted to cgroup v2", Err: err}
	}
	r.Devices = append(r.Devices, cgroup.DefaultDevices()...)
	p.resources = r
	return nil
}

// convertSeccomp compiles linux.seccomp for the capabilities the process
// keeps (Docker's profiles include groups by capability).
func convertSeccomp(s *specs.Spec, p *plan) error {
	sc := s.Linux.Seccomp
	if sc == nil {
		return nil
	}
	if sc.ListenerPath != "" {
		return &UnsupportedError{Field: "linux.seccomp.listenerPath", Value: sc.ListenerPath, Reason: "user notification is not wired into the runtime yet"}
	}
	if len(sc.Flags) > 0 {
		return &UnsupportedError{Field: "linux.seccomp.flags", Value: string(sc.Flags[0]), Reason: "the filter is loaded without flags"}
	}
	prof, err := seccomp.FromOCI(sc)
	if err != nil {
		return &ConfigError{Field: "linux.seccomp", Value: string(sc.DefaultAction), Reason: "invalid profile", Err: err}
	}
	var caps seccomp.CapSet // the same type as namespace.CapSet
	if p.cmd.Capabilities != nil {
		caps = p.cmd.Capabilities.Bounding
	}
	prog, _, err := seccomp.CompileProfile(prof, seccomp.Target{Caps: caps})
	if err != nil {
		return &ConfigError{Field: "linux.seccomp", Value: string(sc.DefaultAction), Reason: "cannot be compiled", Err: err}
	}
	p.cmd.Seccomp = prog
	return nil
}

// convertCgroupsPath takes linux.cgroupsPath, absolute or not, from the
// root of the cgroup v2 hierarchy (as runc's cgroupfs driver does for
// absolute paths); "" means confine-runtime/ID.
func convertCgroupsPath(cp, id string, p *plan) error {
	if strings.Contains(cp, ":") {
		return &UnsupportedError{Field: "linux.cgroupsPath", Value: cp, Reason: "systemd slice:prefix:name paths need --systemd-cgroup"}
	}
	rel := strings.TrimLeft(filepath.Clean("/"+cp), "/")
	switch {
	case cp == "":
		rel = "confine-runtime/" + id
	case rel == "":
		return &ConfigError{Field: "linux.cgroupsPath", Value: cp, Reason: "must not be the root cgroup"}
	}
	p.cgroupPath = rel
	return nil
}
