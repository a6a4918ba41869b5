package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
)

// defaultSpec is what `confine-runtime spec` writes: runc's default
// config.json (sh on a terminal in a read-only rootfs, Docker's default
// capabilities, six new namespaces, runc's masked and read-only paths).
func defaultSpec() *specs.Spec {
	var caps []string
	for _, c := range seccomp.DefaultCaps.List() {
		caps = append(caps, c.String())
	}
	return &specs.Spec{
		Version: "1.2.0",
		Process: &specs.Process{
			Terminal: true, Args: []string{"sh"}, Cwd: "/",
			Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "confine",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			MaskedPaths:   mount.DefaultMaskedPaths(),
			ReadonlyPaths: mount.DefaultReadonlyPaths(),
		},
	}
}

func (rt *runtime) cmdSpec(args []string) (int, error) {
	fs := rt.newFlags("spec")
	bundle := fs.String("bundle", ".", "where to write config.json")
	fs.StringVar(bundle, "b", ".", "where to write config.json")
	rootless := fs.Bool("rootless", false, "not supported")
	if _, err := parseArgs(fs, args, 0, "[--bundle DIR]"); err != nil {
		return 0, err
	}
	if *rootless {
		return 0, &UnsupportedError{Field: "spec --rootless", Value: "true", Reason: "confine-runtime runs as root"}
	}
	b, err := json.MarshalIndent(defaultSpec(), "", "\t")
	if err != nil {
		return 0, err
	}
	p := filepath.Join(*bundle, "config.json")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return 0, fmt.Errorf("%s exists already; remove it first", p)
	}
	if err != nil {
		return 0, err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return 0, err
}

// cmdFeatures prints what this runtime implements (runtime-spec
// features.md), so an engine can check before it asks.
func (rt *runtime) cmdFeatures(args []string) (int, error) {
	if _, err := parseArgs(rt.newFlags("features"), args, 0, ""); err != nil {
		return 0, err
	}
	yes, no := true, false
	var capNames []string
	for c := namespace.Cap(0); c <= namespace.CapLastKnown; c++ {
		capNames = append(capNames, c.String())
	}
	f := features.Features{
		OCIVersionMin: "1.0.0", OCIVersionMax: "1.2.0",
		Hooks: []string{"prestart", "createRuntime", "poststart", "poststop"},
		MountOptions: []string{"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
			"noatime", "strictatime", "nodiratime", "relatime", "bind", "rbind", "private", "rprivate"},
		Linux: &features.Linux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
			Capabilities: capNames,
			Cgroup:       &features.Cgroup{V1: &no, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &no},
			Seccomp: &features.Seccomp{Enabled: &yes,
				Actions:   []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
				Operators: []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
				Archs:     []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
			Apparmor: &features.Apparmor{Enabled: &no},
			Selinux:  &features.Selinux{Enabled: &no},
		},
	}
	return 0, rt.printJSON(f, true)
}
