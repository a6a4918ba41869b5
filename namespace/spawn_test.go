package namespace_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

var fiveNS = namespace.Set{namespace.PID, namespace.NET, namespace.IPC, namespace.MNT, namespace.UTS}

// run starts c with stdout/stderr captured and waits; it fails the test on
// a start error or a non-zero exit.
func run(t *testing.T, c *namespace.Cmd) string {
	t.Helper()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	st, err := c.Run()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !st.Success() {
		t.Fatalf("command failed: %+v\nstdout: %s\nstderr: %s", st, out.String(), errb.String())
	}
	return out.String()
}

func sh(script string) []string { return []string{"sh", "-c", script} }

// fields parses "key value..." lines.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, " ")
		if k != "" {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// expectNewNamespaces checks that the child's "ns_NAME" fields in out
// name a namespace of each kind other than this process's.
func expectNewNamespaces(t *testing.T, out map[string]string, kinds ...namespace.Kind) {
	t.Helper()
	for _, k := range kinds {
		h, err := namespace.Open(os.Getpid(), k)
		if err != nil {
			t.Fatal(err)
		}
		if got := out["ns_"+k.ProcName()]; got == "" || got == h.String() {
			t.Errorf("%s namespace %q, parent's %s", k, got, h)
		}
		h.Close()
	}
}

func TestSpawnNewNamespaces(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip")
	// A SysV shared memory segment on the host that the child must not see.
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	hostShm, _ := os.ReadFile("/proc/sysvipc/shm")
	if strings.Count(string(hostShm), "\n") < 2 {
		t.Fatalf("host shm segment not listed:\n%s", hostShm)
	}
	mnt := t.TempDir()
	script := `echo pid $$
echo host $(hostname)
echo domain $(cat /proc/sys/kernel/domainname)
echo nofile $(ulimit -n)
echo links $(ip -o link show | cut -d: -f2 | tr -d ' ' | tr '\n' ,)
echo lo $(ip -o link show lo)
echo ipc $(cat /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem | wc -l)
for n in pid net ipc mnt uts; do echo ns_$n $(readlink /proc/self/ns/$n); done
mount -t tmpfs sandbox-tmp ` + mnt + ` && touch ` + mnt + `/inside && echo tmpfs ok
mount -t proc proc /proc && echo procs $(ls /proc | grep '^[0-9]' | tr '\n' ,)`
	c := &namespace.Cmd{Path: "/bin/sh", Args: sh(script), Namespaces: fiveNS, Hostname: "sandbox",
		Domainname: "example.org", Rlimits: []namespace.Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 64, Max: 64}}}
	out := fields(run(t, c))
	want := map[string]string{"pid": "1", "host": "sandbox", "domain": "example.org", "nofile": "64",
		"links": "lo,", "ipc": "3", "tmpfs": "ok"}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %q, want %q", k, out[k], v)
		}
	}
	if !strings.Contains(out["lo"], "UP") {
		t.Errorf("loopback not up: %s", out["lo"])
	}
	// sh runs a few children; after the fresh proc mount it sees only its
	// own tree: PID 1 and a handful of low PIDs, none of the host's.
	procs := strings.Split(strings.TrimSuffix(out["procs"], ","), ",")
	if procs[0] != "1" || len(procs) > 8 {
		t.Errorf("processes in the new /proc: %q", out["procs"])
	}
	for _, p := range procs {
		if n, err := strconv.Atoi(p); err != nil || n > 64 {
			t.Errorf("unexpected process %q in the new /proc", p)
		}
	}
	expectNewNamespaces(t, out, namespace.PID, namespace.NET, namespace.IPC, namespace.MNT, namespace.UTS)
	if _, err := os.Stat(filepath.Join(mnt, "inside")); !os.IsNotExist(err) {
		t.Errorf("child's tmpfs mount leaked to the host: %v", err)
	}
}

func TestSpawnJoin(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip")
	// A netns, uts and ipc owned by a long-running first sandbox.
	holder := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"},
		Namespaces: namespace.Set{namespace.UTS, namespace.IPC}, Hostname: "holder"}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer holder.Signal(unix.SIGKILL)
	netPath := testutil.TempNetns(t)
	var join []*namespace.Handle
	for _, k := range []namespace.Kind{namespace.UTS, namespace.IPC} {
		h, err := namespace.Open(holder.Pid(), k)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		join = append(join, h)
	}
	nh, err := namespace.OpenPath(netPath)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	join = append(join, nh)
	c := &namespace.Cmd{Path: "/bin/sh", Join: join,
		Args: sh("echo host $(hostname); for n in net uts ipc; do echo ns_$n $(readlink /proc/self/ns/$n); done")}
	out := fields(run(t, c))
	if out["host"] != "holder" {
		t.Errorf("hostname = %q, want the joined UTS namespace's", out["host"])
	}
	for _, h := range join {
		if got := out["ns_"+h.Kind().ProcName()]; got != h.String() {
			t.Errorf("%s namespace = %q, want %s", h.Kind(), got, h)
		}
	}
	// The starting thread went back: this goroutine's thread is unchanged.
	cur, err := namespace.Current(namespace.NET)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if cur.Equal(nh) {
		t.Error("calling thread left in the joined netns")
	}
}

func TestSpawnUserAndTimeNamespaces(t *testing.T) {
	testutil.RequireRoot(t)
	c := &namespace.Cmd{Path: "/bin/sh",
		Args:        sh("echo uid $(id -u); echo map $(cat /proc/self/uid_map); echo ns_time $(readlink /proc/self/ns/time); echo ns_cgroup $(readlink /proc/self/ns/cgroup)"),
		Namespaces:  namespace.Set{namespace.USER, namespace.MNT, namespace.PID, namespace.TIME, namespace.CGROUP},
		UIDMappings: []namespace.IDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDMappings: []namespace.IDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
	}
	out := fields(run(t, c))
	if out["uid"] != "0" || out["map"] != "0 100000 65536" {
		t.Errorf("uid %q map %q", out["uid"], out["map"])
	}
	expectNewNamespaces(t, out, namespace.TIME, namespace.CGROUP)
}

func TestSpawnStdio(t *testing.T) {
	testutil.RequireRoot(t)
	var out bytes.Buffer
	c := &namespace.Cmd{Path: "/bin/cat", Stdin: strings.NewReader("through a pipe\n"), Stdout: &out,
		Namespaces: namespace.Set{namespace.PID}}
	st, err := c.Run()
	if err != nil || !st.Success() || out.String() != "through a pipe\n" {
		t.Errorf("cat: %+v %v %q", st, err, out.String())
	}
}

// Joining another sandbox's mount namespace: the command sees a tmpfs that
// exists only there.
func TestSpawnJoinMount(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	holder := &namespace.Cmd{Path: "/bin/sh", Namespaces: namespace.Set{namespace.MNT},
		Args: sh("mount -t tmpfs holder " + dir + " && touch " + dir + "/marker && exec sleep 60")}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer holder.Signal(unix.SIGKILL)
	marker := fmt.Sprintf("/proc/%d/root%s/marker", holder.Pid(), dir)
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	h, err := namespace.Open(holder.Pid(), namespace.MNT)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := &namespace.Cmd{Path: "/bin/sh", Join: []*namespace.Handle{h}, Pdeathsig: unix.SIGKILL,
		Args: sh("ls " + dir + "; echo ns_mnt $(readlink /proc/self/ns/mnt)")}
	out := run(t, c)
	if !strings.Contains(out, "marker\n") || fields(out)["ns_mnt"] != h.String() {
		t.Errorf("output %q, want the marker and %s", out, h)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); !os.IsNotExist(err) {
		t.Errorf("holder's tmpfs visible on the host: %v", err)
	}
}

// TestHostnameInJoinedUTS: Hostname with a joined UTS namespace renames
// that namespace, for the command and for whoever else is in it; the
// caller's own stays as it was.
func TestHostnameInJoinedUTS(t *testing.T) {
	testutil.RequireRoot(t)
	h, err := namespace.New(namespace.UTS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	mine, _ := os.Hostname()
	c := &namespace.Cmd{Path: "/bin/sh", Join: []*namespace.Handle{h}, Hostname: "joined-uts", Domainname: "joined-dom",
		Args: sh("echo host $(hostname); echo dom $(cat /proc/sys/kernel/domainname); echo uts $(readlink /proc/self/ns/uts)")}
	out := fields(run(t, c))
	if out["host"] != "joined-uts" || out["dom"] != "joined-dom" || out["uts"] != h.String() {
		t.Errorf("in the command: %v, want joined-uts, joined-dom in %s", out, h)
	}
	var uts unix.Utsname
	if err := namespace.Do(func() error { return unix.Uname(&uts) }, h); err != nil {
		t.Fatal(err)
	}
	if got := unix.ByteSliceToString(uts.Nodename[:]); got != "joined-uts" {
		t.Errorf("the joined namespace's hostname is %q after the command, want joined-uts", got)
	}
	if now, _ := os.Hostname(); now != mine {
		t.Errorf("the caller's hostname changed from %q to %q", mine, now)
	}
}
