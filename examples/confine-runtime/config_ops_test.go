package main

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/testutil"
)

// linux.sysctl: the values are what the container sees in its own
// namespaces, and the host's are untouched.
func TestSysctl(t *testing.T) {
	keys := map[string]string{"net.ipv4.ip_unprivileged_port_start": "555", "kernel.shmmax": "424242",
		"kernel/msgmax": "4242", "fs.mqueue.msg_max": "17"}
	files := []string{"net/ipv4/ip_unprivileged_port_start", "kernel/shmmax", "kernel/msgmax", "fs/mqueue/msg_max"}
	host := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile("/proc/sys/" + f)
		if err != nil {
			t.Fatal(err)
		}
		host[f] = string(b)
	}
	out, withOut := outMount(t)
	dir, _ := bundle(t, append([]string{"cat"}, prefixed("/proc/sys/", files)...), func(s *specs.Spec) {
		withOut(s)
		s.Linux.Sysctl = keys
		s.Process.Args = []string{"sh", "-c", strings.Join(s.Process.Args, " ") + " > /out/values"}
	})
	mustRT(t, stateRoot(t), "run", "--bundle", dir, "sys1")
	if got := strings.Fields(readOut(t, out, "values")); strings.Join(got, " ") != "555 424242 4242 17" {
		t.Errorf("inside: %q", got)
	}
	for _, f := range files {
		if b, _ := os.ReadFile("/proc/sys/" + f); string(b) != host[f] {
			t.Errorf("SECURITY: the host's %s changed to %q", f, b)
		}
	}
	// A key of no namespace, or of the host's: refused, nothing left.
	dir2, cg := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.overcommit_memory": "1"} })
	if r := rt(t, stateRoot(t), "run", "--bundle", dir2, "sys2"); r.code != 1 || !strings.Contains(r.stderr, "vm.overcommit_memory") {
		t.Errorf("vm.overcommit_memory: exit %d, %q", r.code, r.stderr)
	}
	expectGone(t, cg, "", 0, 0)
}

func prefixed(p string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, p+n)
	}
	return out
}

// linux.devices: a null-like node at another path works as /dev/null,
// /dev/fuse opens because its node gets an allow rule, while a device the
// config did not list stays denied by the cgroup even once mknod'ed inside;
// a path escaping /dev is refused with nothing left behind.
func TestDevices(t *testing.T) {
	if err := cgroup.HaveDeviceFilter(); err != nil {
		testutil.Skip(t, "no cgroup device filter: %v", err)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testutil.Skip(t, "no /dev/fuse on this host: %v", err)
	}
	out, withOut := outMount(t)
	script := `echo data > /dev/mynull && wc -c < /dev/mynull > /out/null
ls -ln /dev/mynull /dev/fuse > /out/ls
(exec 3<>/dev/fuse) 2> /out/fuse && echo opened >> /out/fuse
mknod /dev/tun c 10 200 && (exec 3<>/dev/tun) 2> /out/tun || echo refused >> /out/tun`
	mode := os.FileMode(0o620)
	uid, gid := uint32(1000), uint32(5)
	dir, cg := bundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		withOut(s)
		s.Linux.Devices = []specs.LinuxDevice{
			{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid},
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
		}
	})
	applets(t, dir, "wc", "mknod")
	mustRT(t, stateRoot(t), "run", "--bundle", dir, "d1")
	if got := readOut(t, out, "null"); got != "0" {
		t.Errorf("/dev/mynull kept %q bytes, want 0 (a null device)", got)
	}
	ls := readOut(t, out, "ls")
	if !strings.Contains(ls, "crw--w----") || !strings.Contains(ls, "1000") || !strings.Contains(ls, "10, 229") {
		t.Errorf("nodes:\n%s\nwant mynull crw--w---- 1000 5 and fuse 10, 229", ls)
	}
	if got := readOut(t, out, "fuse"); got != "opened" {
		t.Errorf("/dev/fuse: %q, want opened", got)
	}
	if got := readOut(t, out, "tun"); !strings.Contains(got, "not permitted") || !strings.HasSuffix(got, "refused") {
		t.Errorf("unlisted /dev/tun: %q, want EPERM from the device cgroup", got)
	}
	expectGone(t, cg, "", 0, 0)

	dir2, cg2 := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/../etc/passwd", Type: "c", Major: 1, Minor: 3}}
	})
	if r := rt(t, stateRoot(t), "run", "--bundle", dir2, "d2"); r.code != 1 || !strings.Contains(r.stderr, "linux.devices[0].path") {
		t.Errorf("escaping path: exit %d, %q", r.code, r.stderr)
	}
	expectGone(t, cg2, "", 0, 0)
	if b, err := os.ReadFile(filepath.Join(dir2, "root", "etc", "passwd")); err == nil {
		t.Errorf("SECURITY: node made in the rootfs's /etc: %q", b)
	}
}

// The Kubernetes bandwidth annotations limit the container's own sockets:
// 2 MiB over loopback inside the container takes about the time the
// 8 Mbit/s limit allows (unlimited it takes milliseconds), the limiter's
// counters saw the stream, and nothing is left after delete.
func TestBandwidthAnnotations(t *testing.T) {
	if err := cgroup.HaveNetworkLimits(); err != nil {
		testutil.Skip(t, "no bandwidth limiter: %v", err)
	}
	if err := cgroup.HaveBPFFS(); err != nil {
		testutil.Skip(t, "%v", err)
	}
	const rate, size = 8_000_000, 2 << 20
	out, withOut := outMount(t)
	// The receiver's stdin stays open (busybox nc drops the connection at
	// stdin's end); the test watches what it received.
	script := "sleep 1000 | nc -l -p 5001 > /out/recv & sleep 0.3; touch /out/start; dd if=/dev/zero bs=64k count=32 2>/dev/null | nc 127.0.0.1 5001; wait"
	dir, cg := bundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		withOut(s)
		s.Annotations = map[string]string{"kubernetes.io/egress-bandwidth": "8M", "kubernetes.io/ingress-bandwidth": "8M"}
	})
	applets(t, dir, "nc")
	root := stateRoot(t)
	mustRT(t, root, "run", "--detach", "--bundle", dir, "bw1")
	defer mustRT(t, root, "delete", "--force", "bw1")
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(out, name)); return err == nil }
	waitFor(t, "the transfer to start", func() bool { return exists("start") })
	begin := time.Now()
	waitFor(t, "the transfer to end", func() bool {
		fi, err := os.Stat(filepath.Join(out, "recv"))
		return err == nil && fi.Size() >= size
	})
	took := time.Since(begin)
	ideal := time.Duration(float64(size*8) / rate * float64(time.Second))
	t.Logf("%d bytes in %v at an %d bit/s limit (ideal %v)", size, took, rate, ideal)
	if took < ideal/2 {
		t.Errorf("the stream took %v, under half the %v the limit allows: not held", took, ideal)
	}
	c, err := cgroup.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s cgroup.Stats
	if err := c.Stats(&s, cgroup.StatNetwork); err != nil || !s.Network.Limited || s.Network.Egress.Bytes < size || s.Network.Ingress.Bytes < size {
		t.Errorf("limiter counters %+v, %v: want both directions limited, each past %d bytes", s.Network, err, size)
	}
}

// The bandwidth annotations on a host with no bpffs at /sys/fs/bpf (a
// minimal node; here a private mount namespace with a tmpfs hiding the
// host's): the runtime mounts one, the limiter is attached with its pins
// in it, and delete removes them.
func TestBandwidthAnnotationsMountBPFFS(t *testing.T) {
	if err := cgroup.HaveNetworkLimits(); err != nil {
		testutil.Skip(t, "no bandwidth limiter: %v", err)
	}
	dir, cg := bundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{annotationEgress: "8M"}
	})
	root := stateRoot(t)
	inPrivateMountNS(t, func() {
		if err := unix.Mount("tmpfs", "/sys/fs/bpf", "tmpfs", 0, ""); err != nil {
			t.Errorf("hiding /sys/fs/bpf: %v", err)
			return
		}
		if cgroup.HaveBPFFS() == nil {
			t.Error("/sys/fs/bpf is still bpffs under the tmpfs")
			return
		}
		r := rt(t, root, "run", "--detach", "--bundle", dir, "bpffs1")
		if r.code != 0 {
			t.Errorf("run with %s: exit %d, stderr %s", annotationEgress, r.code, r.stderr)
			return
		}
		if err := cgroup.HaveBPFFS(); err != nil {
			t.Errorf("after run: %v", err)
		}
		var s cgroup.Stats
		if c, err := cgroup.Open(cg); err != nil {
			t.Error(err)
		} else {
			if err := c.Stats(&s, cgroup.StatNetwork); err != nil || !s.Network.Limited {
				t.Errorf("the container's cgroup: network stats %+v, %v; want Limited", s.Network, err)
			}
			c.Close()
		}
		if r := rt(t, root, "delete", "--force", "bpffs1"); r.code != 0 {
			t.Errorf("delete --force: exit %d, stderr %s", r.code, r.stderr)
		}
		if ents, err := os.ReadDir("/sys/fs/bpf/confine"); !os.IsNotExist(err) {
			t.Errorf("pins left after delete: %v (%v)", ents, err)
		}
	})
}

// inPrivateMountNS runs fn on a thread of its own in a new mount namespace
// (mounts private): processes fn starts are born there. The thread stays
// locked, so it ends with its goroutine and the namespace with it.
func inPrivateMountNS(t *testing.T, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unshare(CLONE_NEWNS): %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("making / private: %v", err)
			return
		}
		fn()
	}()
	<-done
}
