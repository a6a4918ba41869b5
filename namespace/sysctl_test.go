package namespace_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

func TestSysctlKind(t *testing.T) {
	for key, want := range map[string]namespace.Kind{
		"kernel.shmmax": namespace.IPC, "kernel/sem": namespace.IPC, "fs.mqueue.msg_max": namespace.IPC,
		"net.ipv4.ip_forward": namespace.NET, "net/ipv4/conf/eth0.100/forwarding": namespace.NET,
		"net.ipv4.conf.eth0/100.forwarding": namespace.NET, "kernel.hostname": namespace.UTS,
		"kernel.domainname": namespace.UTS, "user.max_user_namespaces": namespace.USER,
	} {
		if got, err := namespace.SysctlKind(key); err != nil || got != want {
			t.Errorf("SysctlKind(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	for _, key := range []string{"kernel.panic", "vm.overcommit_memory", "kernel.shm", "fs.mqueue", "net",
		"net..ipv4", "net/../kernel/panic", "net.ipv4.", "", "kernel.core_pattern", "fs.file-max"} {
		_, err := namespace.SysctlKind(key)
		var ie *namespace.InvalidError
		if !errors.As(err, &ie) || ie.Field != "Sysctl" || ie.Value != key {
			t.Errorf("SysctlKind(%q) = %v, want an *InvalidError naming it", key, err)
		}
	}
}

// Keys the command's namespaces do not hold are refused before any
// process starts, with the key named.
func TestSysctlRefused(t *testing.T) {
	testutil.RequireRoot(t)
	ownNet, err := namespace.Current(namespace.NET)
	if err != nil {
		t.Fatal(err)
	}
	defer ownNet.Close()
	all := namespace.Set{namespace.NET, namespace.IPC, namespace.UTS, namespace.MNT}
	for _, tc := range []struct {
		name     string
		ns       namespace.Set
		join     *namespace.Handle
		hostname string
		key      string
	}{
		{"not namespaced", all, nil, "", "kernel.panic"},
		{"net without netns", namespace.Set{namespace.IPC}, nil, "", "net.ipv4.ip_forward"},
		{"ipc without ipcns", namespace.Set{namespace.NET}, nil, "", "kernel.shmmax"},
		{"uts without utsns", namespace.Set{namespace.NET}, nil, "", "kernel.domainname"},
		{"hostname twice", all, nil, "a", "kernel.hostname"},
		{"user without userns", all, nil, "", "user.max_user_namespaces"},
		{"joined own netns", nil, ownNet, "", "net.ipv4.ip_forward"},
	} {
		c := &namespace.Cmd{Path: "/bin/true", Namespaces: tc.ns, Hostname: tc.hostname}
		if tc.join != nil {
			c.Join = []*namespace.Handle{tc.join}
		}
		c.Sysctl = map[string]string{tc.key: "1"}
		err := c.Start()
		var ie *namespace.InvalidError
		if !errors.As(err, &ie) || ie.Field != "Sysctl" || ie.Value != tc.key {
			t.Errorf("%s: Start = %v, want an *InvalidError naming %s", tc.name, err, tc.key)
		}
		if c.Process != nil {
			t.Errorf("%s: a process was started", tc.name)
			c.Wait()
		}
	}
}

// hostSysctl reads the caller's (the host's) value of a sysctl.
func hostSysctl(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The values land in the sandbox's own namespaces (the command reads them
// back), and the host's stay as they were.
func TestSysctlApplied(t *testing.T) {
	testutil.RequireRoot(t)
	files := []string{"net/ipv4/ip_unprivileged_port_start", "kernel/shmmax", "kernel/domainname", "net/ipv4/conf/lo/forwarding"}
	var before []string
	for _, f := range files {
		before = append(before, hostSysctl(t, f))
	}
	c := &namespace.Cmd{Path: "cat", Args: append([]string{"cat"}, prefixed("/proc/sys/", files)...),
		Namespaces: namespace.Set{namespace.NET, namespace.IPC, namespace.UTS, namespace.MNT},
		Sysctl: map[string]string{"net.ipv4.ip_unprivileged_port_start": "777", "kernel/shmmax": "123456789",
			"kernel.domainname": "confine.sysctl.test", "net.ipv4.conf.lo.forwarding": "1"}}
	out := strings.Fields(run(t, c))
	if strings.Join(out, " ") != "777 123456789 confine.sysctl.test 1" {
		t.Errorf("inside: %q", out)
	}
	for i, f := range files {
		if got := hostSysctl(t, f); got != before[i] {
			t.Errorf("SECURITY: host's %s changed from %q to %q", f, before[i], got)
		}
	}
}

func prefixed(p string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, p+n)
	}
	return out
}

// hostileMountNS returns a mount namespace whose /proc an attacker
// prepared with prepare (run inside it after making it private), e.g.
// what a container's own root process can do to the namespace a later
// command joins.
func hostileMountNS(t *testing.T, prepare func() error) *namespace.Handle {
	t.Helper()
	h, err := namespace.New(namespace.MNT)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	err = namespace.Do(func() error {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		return prepare()
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A write the attacker tries to redirect to a host file (bound over the
// sysctl, or a fake /proc) is refused, and the host file is unchanged.
func TestSysctlNotRedirected(t *testing.T) {
	testutil.RequireRoot(t)
	// A host file named like the sysctl, in a host directory.
	victim := filepath.Join(t.TempDir(), "domainname")
	fake := t.TempDir()
	if err := os.MkdirAll(fake+"/sys/kernel", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, fake+"/sys/kernel/domainname"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		prepare func() error
		errno   error // or a *FileError when nil
	}{
		{"bind over the file", func() error {
			return unix.Mount(victim, "/proc/sys/kernel/domainname", "", unix.MS_BIND, "")
		}, unix.EXDEV},
		{"bind over /proc/sys/kernel", func() error {
			return unix.Mount(filepath.Dir(victim), "/proc/sys/kernel", "", unix.MS_BIND, "")
		}, unix.EXDEV},
		{"fake /proc with a symlink", func() error {
			return unix.Mount(fake, "/proc", "", unix.MS_BIND, "")
		}, nil},
		{"/proc/sys a symlink", func() error {
			if err := unix.Mount("tmpfs", "/proc", "tmpfs", 0, ""); err != nil {
				return err
			}
			return os.Symlink(fake+"/sys", "/proc/sys")
		}, unix.ELOOP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(victim, []byte("host data\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			mnt := hostileMountNS(t, tc.prepare)
			c := &namespace.Cmd{Path: "/bin/true", Join: []*namespace.Handle{mnt},
				Namespaces: namespace.Set{namespace.UTS}, Sysctl: map[string]string{"kernel.domainname": "evil"}}
			err := c.Start()
			var se *namespace.StepError
			var fe *namespace.FileError
			switch {
			case !errors.As(err, &se) || se.Step != namespace.StepSysctl:
				t.Errorf("Start = %v, want a sysctl *StepError", err)
			case tc.errno != nil && !errors.Is(err, tc.errno):
				t.Errorf("Start = %v, want %v", err, tc.errno)
			case tc.errno == nil && !errors.As(err, &fe):
				t.Errorf("Start = %v, want a *FileError (not a procfs)", err)
			}
			if c.Process != nil {
				c.Wait()
			}
			if b, _ := os.ReadFile(victim); string(b) != "host data\n" {
				t.Errorf("SECURITY: host file now %q", b)
			}
		})
	}
}

// A hostile rootfs: its /proc is a symlink to a host directory whose
// sys/kernel/domainname is a symlink to a host file. The rootfs is never
// consulted for the write: the value lands in the sandbox's UTS namespace
// (read back through a fresh procfs) and the host file is unchanged.
func TestSysctlRootfsCannotRedirect(t *testing.T) {
	testutil.RequireRoot(t)
	victim := filepath.Join(t.TempDir(), "domainname")
	if err := os.WriteFile(victim, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := t.TempDir()
	if err := os.MkdirAll(fake+"/sys/kernel", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, fake+"/sys/kernel/domainname"); err != nil {
		t.Fatal(err)
	}
	root := testutil.BusyboxRoot(t, []string{"realproc"}, "cat")
	if err := os.Symlink(fake, root+"/proc"); err != nil {
		t.Fatal(err)
	}
	c := &namespace.Cmd{Path: "cat", Args: []string{"cat", "/realproc/sys/kernel/domainname"},
		Namespaces: namespace.Set{namespace.UTS, namespace.MNT, namespace.PID},
		Root:       &mount.Root{Path: root, Mounts: []mount.Mount{mount.Proc("/realproc")}},
		Sysctl:     map[string]string{"kernel.domainname": "in.the.sandbox"}}
	if out := strings.TrimSpace(run(t, c)); out != "in.the.sandbox" {
		t.Errorf("domainname inside: %q", out)
	}
	if b, _ := os.ReadFile(victim); string(b) != "host data\n" {
		t.Errorf("SECURITY: host file now %q", b)
	}
}

// A joined network namespace that is not the caller's takes the value
// and keeps it after the command is gone.
func TestSysctlJoinedNetns(t *testing.T) {
	testutil.RequireRoot(t)
	h, err := namespace.OpenPath(testutil.TempNetns(t))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := &namespace.Cmd{Path: "/bin/true", Join: []*namespace.Handle{h},
		Sysctl: map[string]string{"net/ipv4/ip_unprivileged_port_start": "888"}}
	run(t, c)
	var got string
	if err := namespace.Do(func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
		got = strings.TrimSpace(string(b))
		return err
	}, h); err != nil {
		t.Fatal(err)
	}
	if got != "888" {
		t.Errorf("joined netns has %q, want 888", got)
	}
}
