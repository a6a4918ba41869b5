package main

import (
	"errors"
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// testSpec is the default spec with a rootfs directory that exists.
func testSpec(t *testing.T) (*specs.Spec, string) {
	bundle := t.TempDir()
	s := defaultSpec()
	s.Root.Path = bundle // any existing directory will do for conversion
	return s, bundle
}

func TestConvertDefaultSpec(t *testing.T) {
	s, bundle := testSpec(t)
	p, err := convert(s, bundle, "c1")
	if err != nil {
		t.Fatal(err)
	}
	c := p.cmd
	if c.Path != "sh" || len(c.Args) != 1 || c.Dir != "/" || c.Hostname != "confine" || !c.NoNewPrivileges {
		t.Errorf("process: %+v", c)
	}
	for _, k := range []namespace.Kind{namespace.PID, namespace.NET, namespace.IPC, namespace.UTS, namespace.MNT, namespace.CGROUP} {
		if !c.Namespaces.Has(k) {
			t.Errorf("namespace %v not created", k)
		}
	}
	if !c.Capabilities.Bounding.Has(namespace.Cap(unix.CAP_CHOWN)) || c.Capabilities.Bounding.Has(namespace.CapSysAdmin) {
		t.Errorf("bounding set %v", c.Capabilities.Bounding)
	}
	if len(c.Rlimits) != 1 || c.Rlimits[0].Resource != unix.RLIMIT_NOFILE || c.Rlimits[0].Cur != 1024 {
		t.Errorf("rlimits %+v", c.Rlimits)
	}
	if c.Root == nil || !c.Root.Readonly || c.Root.Propagation != "rprivate" {
		t.Fatalf("root %+v", c.Root)
	}
	types := map[string]string{}
	for _, m := range c.Root.Mounts {
		types[m.Target] = m.Type
	}
	want := map[string]string{"/proc": "proc", "/dev": "dev", "/dev/pts": "devpts", "/dev/shm": "tmpfs",
		"/dev/mqueue": "mqueue", "/sys": "sysfs", "/sys/fs/cgroup": "cgroup2"}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("mount %s: type %q, want %q", k, types[k], v)
		}
	}
	if p.cgroupPath != "confine-runtime/c1" || p.terminal != true || p.umask != -1 {
		t.Errorf("cgroupPath %q terminal %v umask %d", p.cgroupPath, p.terminal, p.umask)
	}
	if len(p.resources.Devices) == 0 || p.resources.Devices[0].Allow {
		t.Errorf("device rules %+v: want the spec's deny-all first, then the defaults", p.resources.Devices)
	}
}

func ptr[T any](v T) *T { return &v }

// TestConvertRefuses checks every refusal is typed and names the field.
func TestConvertRefuses(t *testing.T) {
	cases := []struct {
		name        string
		mutate      func(*specs.Spec)
		field       string
		unsupported bool
	}{
		{"selinux", func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, "process.selinuxLabel", true},
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" }, "process.apparmorProfile", true},
		{"intelRdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }, "linux.intelRdt", true},
		{"mountLabel", func(s *specs.Spec) { s.Linux.MountLabel = "x" }, "linux.mountLabel", true},
		{"personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX32"} }, "linux.personality", true},
		{"createContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, "hooks.createContainer", true},
		{"join user ns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/1/ns/user"})
		}, "linux.namespaces[6].path", true},
		{"no mount ns", func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:4] }, "linux.namespaces", true},
		{"unknown propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "public" }, "linux.rootfsPropagation", false},
		{"overlay mount", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "overlay", Source: "overlay"})
		}, "mounts[7].type", true},
		{"seccomp listener", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/x.sock"}
		}, "linux.seccomp.listenerPath", true},
		{"systemd cgroupsPath", func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:confine:c1" }, "linux.cgroupsPath", true},
		{"v1-only resource", func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{Swappiness: ptr(uint64(10))} }, "linux.resources", false},
		{"old version", func(s *specs.Spec) { s.Version = "0.6.0" }, "ociVersion", false},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args", false},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd", false},
		{"bad rlimit", func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_BOGUS" }, "process.rlimits[0].type", false},
		{"soft over hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 4096 }, "process.rlimits[0].soft", false},
		{"bad capability", func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_FLY"} }, "process.capabilities.bounding[0]", false},
		{"umask", func(s *specs.Spec) { s.Process.User.Umask = ptr(uint32(0o1000)) }, "process.user.umask", false},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "linux.namespaces[6].type", false},
		{"relative hook", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "true"}}} }, "hooks.poststop[0].path", false},
		{"root cgroup", func(s *specs.Spec) { s.Linux.CgroupsPath = "/" }, "linux.cgroupsPath", false},
		{"bad mount option", func(s *specs.Spec) { s.Mounts[0].Options = []string{"size=1g"} }, "mounts", false},
		{"sysctl not namespaced", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, "linux.sysctl", false},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "linux.sysctl", false},
		{"device escaping /dev", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/../etc/passwd", Type: "c", Major: 1, Minor: 3}}
		}, "linux.devices[0].path", false},
		{"device outside /dev", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/ok", Type: "p"}, {Path: "/etc/null", Type: "c", Major: 1, Minor: 3}}
		}, "linux.devices[1].path", false},
		{"device type", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "x"}} }, "linux.devices[0].type", false},
		{"device mode", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 3, FileMode: ptr(os.ModeSetuid | 0o666)}}
		}, "linux.devices[0].fileMode", false},
		{"device major", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "b", Major: -1}} }, "linux.devices[0].major", false},
		{"bandwidth syntax", func(s *specs.Spec) {
			s.Annotations = map[string]string{"kubernetes.io/egress-bandwidth": "10 mbit"}
		}, `annotations["kubernetes.io/egress-bandwidth"]`, false},
		{"bandwidth too small", func(s *specs.Spec) {
			s.Annotations = map[string]string{"kubernetes.io/ingress-bandwidth": "999"}
		}, `annotations["kubernetes.io/ingress-bandwidth"]`, false},
		{"bandwidth too large", func(s *specs.Spec) {
			s.Annotations = map[string]string{"kubernetes.io/ingress-bandwidth": "2P"}
		}, `annotations["kubernetes.io/ingress-bandwidth"]`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, bundle := testSpec(t)
			tc.mutate(s)
			_, err := convert(s, bundle, "c1")
			if err == nil {
				t.Fatal("converted")
			}
			if got := errors.Is(err, ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v: %v", got, err)
			}
			var ue *UnsupportedError
			var ce *ConfigError
			switch {
			case errors.As(err, &ue):
				if ue.Field != tc.field {
					t.Errorf("field %q, want %q (%v)", ue.Field, tc.field, err)
				}
			case errors.As(err, &ce):
				if ce.Field != tc.field {
					t.Errorf("field %q, want %q (%v)", ce.Field, tc.field, err)
				}
			default:
				t.Errorf("untyped error %T: %v", err, err)
			}
		})
	}
}

func TestConvertDetails(t *testing.T) {
	s, bundle := testSpec(t)
	s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}, Umask: ptr(uint32(0o027))}
	s.Process.OOMScoreAdj = ptr(500)
	s.Linux.CgroupsPath = "/kubepods/pod1/c1"
	s.Linux.Namespaces = append(s.Linux.Namespaces[:1], specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/run/netns/x"},
		specs.LinuxNamespace{Type: specs.MountNamespace})
	s.Hostname = ""
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "none", Source: "data", Options: []string{"bind", "ro"}})
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow}}}
	p, err := convert(s, bundle, "c1")
	if err != nil {
		t.Fatal(err)
	}
	c := p.cmd
	if c.Credential.UID != 1000 || c.Credential.GID != 1000 || len(c.Credential.Groups) != 2 || p.umask != 0o027 || *c.OOMScoreAdj != 500 {
		t.Errorf("user %+v umask %o", c.Credential, p.umask)
	}
	if p.cgroupPath != "kubepods/pod1/c1" {
		t.Errorf("cgroupPath %q", p.cgroupPath)
	}
	if len(p.joins) != 1 || p.joins[0].kind != namespace.NET || p.joins[0].path != "/run/netns/x" || c.Namespaces.Has(namespace.NET) {
		t.Errorf("joins %+v, new %v", p.joins, c.Namespaces)
	}
	last := c.Root.Mounts[len(c.Root.Mounts)-1]
	if last.Type != "bind" || last.Source != bundle+"/data" || last.Options[0] != "bind" {
		t.Errorf("bind mount %+v: want a non-recursive bind of the bundle's data", last)
	}
	if c.Seccomp == nil || len(c.Seccomp.Instructions()) == 0 {
		t.Error("seccomp not compiled")
	}
}

// linux.sysctl, linux.devices and the bandwidth annotations reach the
// library: the sysctls to write, the nodes to make with an rwm allow rule
// each (after the config's rules and the defaults), the rates to enforce.
func TestConvertSysctlDevicesBandwidth(t *testing.T) {
	s, bundle := testSpec(t)
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536", "fs.mqueue.msg_max": "20"}
	s.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o620)), UID: ptr(uint32(1000)), GID: ptr(uint32(5))},
		{Path: "/dev/sda9", Type: "b", Major: 8, Minor: 9},
		{Path: "/dev/fifo", Type: "p"},
		{Path: "/dev/ptmx", Type: "c", Major: 5, Minor: 2},
	}
	s.Annotations = map[string]string{"kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "1.5G"}
	p, err := convert(s, bundle, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.cmd.Sysctl) != 3 || p.cmd.Sysctl["kernel.shmmax"] != "65536" {
		t.Errorf("sysctl %v", p.cmd.Sysctl)
	}
	nodes := p.cmd.Root.Devices
	if len(nodes) != 3 || nodes[0] != (mount.DeviceNode{Path: "/dev/fuse", Type: 'c', Major: 10, Minor: 229, Mode: 0o620, UID: 1000, GID: 5}) ||
		nodes[1].Type != 'b' || nodes[1].Mode != 0o666 || nodes[2].Type != 'p' {
		t.Errorf("nodes %+v (ptmx is the devpts link, not made)", nodes)
	}
	rules := p.resources.Devices
	want := []cgroup.DeviceRule{cgroup.AllowDevice(cgroup.CharDevice, 10, 229, cgroup.DeviceRWM), cgroup.AllowDevice(cgroup.BlockDevice, 8, 9, cgroup.DeviceRWM)}
	if len(rules) < 3 || !slices.Equal(rules[len(rules)-2:], want) || rules[0].Allow {
		t.Errorf("device rules %+v: want the config's deny-all first and an allow per node last", rules)
	}
	if n := p.resources.Network; n == nil || n.IngressRate != 10_000_000 || n.EgressRate != 1_500_000_000 {
		t.Errorf("network %+v", n)
	}
	s.Annotations = map[string]string{"kubernetes.io/egress-bandwidth": "100k"}
	if p, err = convert(s, bundle, "c1"); err != nil || p.resources.Network.IngressRate != 0 || p.resources.Network.EgressRate != 100_000 {
		t.Errorf("egress only: %+v, %v", p.resources.Network, err)
	}
}
