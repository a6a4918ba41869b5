package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/namespace"
)

// Tier 2 (root on the host): exec into containers the runtime started.

// running starts a container running `sleep 1000` (run --detach) with the
// extra applets the exec tests use, and deletes it when the test ends.
// It returns the state root, the container's cgroup and its init's pid.
func running(t *testing.T, id string, mutate func(*specs.Spec)) (root, cg string, pid int) {
	t.Helper()
	dir, cg := bundle(t, []string{"sleep", "1000"}, mutate)
	addApplets(t, filepath.Join(dir, "root"), "grep", "tr", "mkdir", "tty", "pwd", "env")
	root = stateRoot(t)
	mustRT(t, root, "run", "--detach", "--bundle", dir, id)
	t.Cleanup(func() { rt(t, root, "delete", "--force", id) })
	return root, cg, stateOf(t, root, id).Pid
}

// addApplets links more busybox applets into a test rootfs.
func addApplets(t *testing.T, rootfs string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", n)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
}

// cgroupProcs lists the pids in a cgroup (the host's view).
func cgroupProcs(t *testing.T, cg string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// The inline form: the process is in the container's PID namespace (its
// PID 1 is the container's init) but not its PID 1, in the container's
// cgroup namespace and cgroup, in its root; exit status is the process's.
func TestExecInline(t *testing.T) {
	root, _, _ := running(t, "e1", nil)
	out := mustRT(t, root, "exec", "e1", "sh", "-c",
		`echo init $(cat /proc/1/cmdline | tr '\0' ' '); echo pid $$; echo cg $(grep '^0::' /proc/self/cgroup); `+
			`echo root $(ls / | tr '\n' ,); echo cwd $(pwd); echo user $(id -u)`)
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, " ")
		got[k] = strings.TrimSpace(v)
	}
	want := map[string]string{"init": "sleep 1000", "cg": "0::/", "cwd": "/", "user": "0",
		"root": "bin,dev,out,proc,sys,tmp,"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got["pid"] == "1" || got["pid"] == "" {
		t.Errorf("exec'd process is pid %q in the container, want another than 1", got["pid"])
	}
	if r := rt(t, root, "exec", "e1", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exit status %d, want the process's 7 (stderr %q)", r.code, r.stderr)
	}
	if r := rt(t, root, "exec", "e1", "sh", "-c", "kill -TERM $$"); r.code != 128+15 {
		t.Errorf("killed by SIGTERM: exit %d, want 143", r.code)
	}
}

// --process FILE (what go-runc passes): user, groups, the five capability
// sets, no_new_privs, env, cwd, rlimits; and the container's seccomp
// profile, compiled for the process's capabilities, binds it.
func TestExecProcessJSON(t *testing.T) {
	root, _, _ := running(t, "e1", func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}}}
	})
	caps := []string{"CAP_CHOWN", "CAP_NET_RAW"}
	proc := specs.Process{
		Args: []string{"sh", "-c", "cat /proc/self/status; echo Cwd: $(pwd); echo Foo: $FOO; echo NoFile: $(ulimit -n); " +
			"mkdir /dev/shm/x 2>/dev/null && echo Mkdir: ok || echo Mkdir: denied"},
		Env:  []string{"PATH=/bin", "FOO=bar"},
		Cwd:  "/tmp",
		User: specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{1002}},
		Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps,
			Inheritable: caps, Ambient: caps},
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 300, Hard: 400}},
		NoNewPrivileges: true,
	}
	out := statusOf(mustRT(t, root, "exec", "--process", writeProcess(t, proc), "e1"))
	hex := fmt.Sprintf("%016x", uint64(1<<0|1<<13))
	want := map[string]string{
		"Uid": "1000\t1000\t1000\t1000", "Gid": "1001\t1001\t1001\t1001", "Groups": "1002",
		"CapEff": hex, "CapPrm": hex, "CapInh": hex, "CapAmb": hex, "CapBnd": hex,
		"NoNewPrivs": "1", "Seccomp": "2", "Cwd": "/tmp", "Foo": "bar", "NoFile": "300", "Mkdir": "denied",
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %q, want %q", k, out[k], v)
		}
	}
	// The same process in a container without the profile: the mkdir works
	// (the filter refused it above, nothing else).
	root2, _, _ := running(t, "e2", nil)
	if out := statusOf(mustRT(t, root2, "exec", "--process", writeProcess(t, proc), "e2")); out["Mkdir"] != "ok" || out["Seccomp"] != "0" {
		t.Errorf("mkdir without the profile: %v", out)
	}
}

// noNewPrivileges false in an exec'd process under the container's
// seccomp profile: as runc, the filter binds it without no_new_privs (it
// is loaded while the process still has CAP_SYS_ADMIN), and the process
// ends up with only the capabilities it asked for.
func TestExecAllowNewPrivsUnderSeccomp(t *testing.T) {
	root, _, _ := running(t, "e1", func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}}}
	})
	caps := []string{"CAP_CHOWN", "CAP_NET_RAW"}
	for _, user := range []specs.User{{UID: 0, GID: 0}, {UID: 1000, GID: 1001}} {
		proc := specs.Process{
			Args: []string{"sh", "-c", "cat /proc/self/status; mkdir /dev/shm/x-$$ 2>/dev/null && echo Mkdir: ok || echo Mkdir: denied"},
			Env:  []string{"PATH=/bin"}, Cwd: "/", User: user,
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps},
		}
		out := statusOf(mustRT(t, root, "exec", "--process", writeProcess(t, proc), "e1"))
		hex := fmt.Sprintf("%016x", uint64(1<<0|1<<13))
		for k, v := range map[string]string{"CapEff": hex, "CapPrm": hex, "CapBnd": hex, "NoNewPrivs": "0", "Seccomp": "2", "Mkdir": "denied"} {
			if out[k] != v {
				t.Errorf("uid %d: %s = %q, want %q", user.UID, k, out[k], v)
			}
		}
	}
}

func writeProcess(t *testing.T, p specs.Process) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// statusOf parses "Key:\tvalue" lines.
func statusOf(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// Failures, as runc reports them: "exec failed: ..." and status 255, for
// a missing binary, a stopped container, a container that does not exist;
// bad flags are usage errors.
func TestExecFailures(t *testing.T) {
	root, _, _ := running(t, "e1", nil)
	r := rt(t, root, "exec", "e1", "nosuchcommand")
	if r.code != 255 || !strings.Contains(r.stderr, "exec failed") || !strings.Contains(r.stderr, "nosuchcommand") ||
		!strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("missing binary: exit %d, stderr %q: want 255 naming the command and ENOENT", r.code, r.stderr)
	}
	if r := rt(t, root, "exec", "nosuch", "true"); r.code != 255 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("missing container: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := rt(t, root, "exec", "e1"); r.code != 2 {
		t.Errorf("no command: exit %d, want a usage error", r.code)
	}
	if r := rt(t, root, "exec", "--detach", "--tty", "e1", "true"); r.code != 2 || !strings.Contains(r.stderr, "--console-socket") {
		t.Errorf("detached tty without a console socket: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := rt(t, root, "exec", "--apparmor", "x", "e1", "true"); r.code != 2 || !strings.Contains(r.stderr, "--apparmor") {
		t.Errorf("--apparmor: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRT(t, root, "kill", "e1", "KILL")
	waitFor(t, "the container to stop", func() bool { return stateOf(t, root, "e1").Status == specs.StateStopped })
	if r := rt(t, root, "exec", "e1", "true"); r.code != 255 || !strings.Contains(r.stderr, "stopped") {
		t.Errorf("stopped container: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A created (not yet started) container takes processes too: its PID 1 is
// the init waiting at its gate.
func TestExecCreated(t *testing.T) {
	dir, _ := bundle(t, []string{"sleep", "1000"}, nil)
	addApplets(t, filepath.Join(dir, "root"), "tr")
	root := stateRoot(t)
	mustRT(t, root, "create", "--bundle", dir, "c1")
	defer rt(t, root, "delete", "--force", "c1")
	if out := mustRT(t, root, "exec", "c1", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"); strings.TrimSpace(out) != "confine-init" {
		t.Errorf("PID 1 of a created container: %q, want the waiting init", out)
	}
	if st := stateOf(t, root, "c1"); st.Status != specs.StateCreated {
		t.Errorf("exec changed the state: %+v", st)
	}
}

// Detached processes are the container's: in its cgroup, so kill --all and
// delete --force get rid of them.
func TestExecDetachedKillAndDelete(t *testing.T) {
	root, cg, _ := running(t, "e1", nil)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	mustRT(t, root, "exec", "--detach", "--pid-file", pidFile, "e1", "sleep", "2000")
	pid, _ := strconv.Atoi(readOut(t, filepath.Dir(pidFile), "exec.pid"))
	start := startTime(pid)
	if !contains(cgroupProcs(t, cg), strconv.Itoa(pid)) || cmdline(pid) != "sleep 2000" {
		t.Fatalf("exec'd pid %d (%q) not in the container's cgroup %v", pid, cmdline(pid), cgroupProcs(t, cg))
	}
	mustRT(t, root, "kill", "--all", "e1", "KILL")
	waitFor(t, "the exec'd process to die", func() bool { return !sameProcess(pid, start) })
	waitFor(t, "the container to stop", func() bool { return stateOf(t, root, "e1").Status == specs.StateStopped })
	mustRT(t, root, "delete", "e1")

	root, cg, initPid := running(t, "e2", nil)
	initStart := startTime(initPid)
	mustRT(t, root, "exec", "--detach", "--pid-file", pidFile, "e2", "sleep", "2000")
	pid, _ = strconv.Atoi(readOut(t, filepath.Dir(pidFile), "exec.pid"))
	start = startTime(pid)
	mustRT(t, root, "delete", "--force", "e2")
	expectGone(t, cg, "", initPid, initStart)
	if sameProcess(pid, start) {
		t.Errorf("exec'd process %d survived delete --force", pid)
	}
}

// --tty with --console-socket: the terminal is made in the container and
// its master reaches the listener, as containerd's shim expects.
func TestExecConsoleSocket(t *testing.T) {
	root, _, _ := running(t, "e1", nil)
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	masters := make(chan *os.File, 1)
	go func() {
		defer close(masters)
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			return
		}
		defer f.Close()
		if m, err := namespace.ReceiveConsole(f); err == nil {
			masters <- m
		}
	}()
	r := rt(t, root, "exec", "--tty", "--console-socket", sock, "e1", "sh", "-c", "tty; echo done")
	m := <-masters
	if r.code != 0 || m == nil {
		t.Fatalf("exec --tty: exit %d, stderr %q, master %v", r.code, r.stderr, m)
	}
	defer m.Close()
	out, _ := io.ReadAll(m) // EIO once the process's side closed
	if !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "done") {
		t.Errorf("terminal printed %q, want /dev/pts/N then done", out)
	}
	// Without a console socket exec proxies the terminal to its stdout.
	if out := mustRT(t, root, "exec", "-t", "e1", "tty"); !strings.HasPrefix(out, "/dev/pts/") {
		t.Errorf("exec -t without a socket printed %q, want the container's /dev/pts/N", out)
	}
}

// A container with a user namespace of its own: the exec'd process joins
// it (the init of a Go runtime cannot; the forked process does), and its
// ids are the container's.
func TestExecUserNamespace(t *testing.T) {
	// The bundle must be reachable for the container's root (host uid
	// 100000): the test's temporary directory is 0700.
	if err := os.Chmod(filepath.Dir(t.TempDir()), 0o755); err != nil {
		t.Fatal(err)
	}
	root, _, initPid := running(t, "u1", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		// The rootfs is owned by the host's root, unmapped in the container.
		s.Root.Readonly = true
	})
	out := mustRT(t, root, "exec", "u1", "sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	self, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", initPid))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || lines[0] != "0" || strings.Join(strings.Fields(lines[1]), " ") != "0 100000 65536" || lines[2] != self {
		t.Errorf("exec in a user namespace printed %q, want uid 0, the mapping and the container's %s", lines, self)
	}
}
