package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/containerdbuild"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

// What TestVMCRI's pod proves of its network: CRI makes the pod's netns and
// runs the CNI plugins on it, confine-runtime joins it for the sandbox and
// every container (it is handed the path in linux.namespaces), packets
// flow between the pod and the VM's side of the bridge, and the pod's
// bandwidth annotations hold that traffic to their rate without a
// bandwidth CNI plugin.

// setupCNI does what a node's CNI set-up does: the bridge module loaded
// (the VM has no /sbin/modprobe for the kernel to autoload it), the
// plugins at criCNIBin (links to the build shipped into the VM), the pod
// network's conflist in CRI's conf_dir. It notes the VM's veth devices,
// so that leftovers tells the pod's apart, and removes the bridge (which
// the bridge plugin never does) once containerd is gone.
func (c *cri) setupCNI(t *testing.T) {
	if out, err := exec.Command("modprobe", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("modprobe bridge (the CNI bridge plugin's device): %v: %s", err, out)
	}
	if _, err := os.Stat(criCNIBin); err == nil {
		t.Fatalf("%s exists: the test puts its own CNI plugins there", criCNIBin)
	}
	if err := os.MkdirAll(criCNIBin, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(criCNIBin)
		os.Remove(filepath.Dir(criCNIBin)) // /opt/cni, if nothing else is there
		h, err := netns.Current()
		if err != nil {
			t.Error(err)
			return
		}
		defer h.Close()
		if err := netns.DeleteLink(h, criBridge); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("removing the pod network's bridge: %v", err)
		}
	})
	for _, p := range containerdbuild.CNIPlugins {
		if err := os.Symlink(filepath.Join(c.bins.CNIDir(), p), filepath.Join(criCNIBin, p)); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(c.base, "cni", "net.d", "10-"+criNetName+".conflist")
	if err := os.WriteFile(conf, []byte(criConflist(c.ipamDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.veths = map[string]bool{}
	for _, v := range vethNames(t) {
		c.veths[v] = true
	}
}

// vethNames lists the veth devices of the test's (the VM's) netns.
func vethNames(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("listing links: %v", err)
	}
	var names []string
	for _, l := range links {
		if l.Type() == "veth" {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

// podNet is what CRI says of a pod's network: its address, and the path
// of the netns it handed the runtime in the sandbox's OCI spec.
type podNet struct {
	ip    netip.Addr
	netns string
}

// podNetwork reads the pod's network from `crictl inspectp`: an address
// of criSubnet other than the gateway, and a network namespace path of
// CRI's (criNetnsDir/cni-UUID) in the sandbox's linux.namespaces.
func (c *cri) podNetwork(t *testing.T, pod string) podNet {
	t.Helper()
	var st struct {
		Status struct {
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
		Info struct {
			RuntimeSpec *specs.Spec `json:"runtimeSpec"`
		} `json:"info"`
	}
	out := c.mustCrictl(t, "inspectp", "-o", "json", pod)
	mustJSON(t, []byte(out), &st)
	var pn podNet
	var err error
	if pn.ip, err = netip.ParseAddr(st.Status.Network.IP); err != nil || !netip.MustParsePrefix(criSubnet).Contains(pn.ip) ||
		pn.ip == netip.MustParseAddr(criGateway) {
		t.Fatalf("crictl inspectp: pod address %q, want one of %s other than the gateway %s", st.Status.Network.IP, criSubnet, criGateway)
	}
	if s := st.Info.RuntimeSpec; s != nil && s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				pn.netns = ns.Path
			}
		}
	}
	if filepath.Dir(pn.netns) != criNetnsDir || !strings.HasPrefix(filepath.Base(pn.netns), "cni-") {
		t.Fatalf("crictl inspectp: the sandbox's network namespace path is %q, want %s/cni-UUID (CRI's)", pn.netns, criNetnsDir)
	}
	return pn
}

// nsInode is the nsfs inode of the namespace at path (a /proc/PID/ns link
// or a bind mount of one): equal inodes are one namespace.
func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// networkLeftovers lists what exists of the pod's network: CRI's netns
// files, the pod's netns mounted anywhere (mi is /proc/self/mountinfo) or
// held by a process, veth devices the VM did not have before the pod,
// ports of the bridge, and host-local's address reservations.
func (c *cri) networkLeftovers(t *testing.T, mi string) []string {
	t.Helper()
	var left []string
	ents, _ := os.ReadDir(criNetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "cni-") {
			left = append(left, "netns "+filepath.Join(criNetnsDir, e.Name()))
		}
	}
	if c.podNet != 0 {
		root := fmt.Sprintf("net:[%d]", c.podNet)
		for _, l := range strings.Split(mi, "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[3] == root {
				left = append(left, "netns "+root+" mounted on "+f[4])
			}
		}
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			if _, err := strconv.Atoi(p.Name()); err != nil {
				continue
			}
			var st unix.Stat_t
			if unix.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) == nil && st.Ino == c.podNet {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				left = append(left, fmt.Sprintf("netns %s of pid %s (%s)", root, p.Name(), strings.TrimSpace(string(comm))))
			}
		}
	}
	for _, v := range vethNames(t) {
		if !c.veths[v] {
			left = append(left, "veth "+v)
		}
	}
	ents, _ = os.ReadDir(filepath.Join("/sys/class/net", criBridge, "brif"))
	for _, e := range ents {
		left = append(left, "bridge port "+e.Name())
	}
	ents, _ = os.ReadDir(filepath.Join(c.ipamDir, criNetName))
	for _, e := range ents {
		if e.Name() != "lock" && !strings.HasPrefix(e.Name(), "last_reserved_ip") {
			left = append(left, "ip reservation "+e.Name())
		}
	}
	return left
}

// testNetwork: the pod is networked through CNI. CRI reports an address
// of the bridge's subnet; the bridge holds the gateway address and one
// port, the pod's veth; a container's init and a process `crictl exec`
// starts in it are in the netns CRI made for the pod (the sandbox's, see
// checkPod); and a TCP connection each way between the VM's side of the
// bridge and the container carries a line each way, from and to the
// pod's address.
func (c *cri) testNetwork(t *testing.T, pod, podJSON string) {
	pn := c.podNetwork(t, pod)
	checkBridge(t)
	id := c.runContainer(t, pod, podJSON, ctrConfig("net", []string{"sleep", "1000"}, nil))
	defer c.removeContainer(t, id)
	_, pid := containerCgroup(t, id)
	if ino := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid)); ino != c.podNet {
		t.Errorf("the container's init (pid %d) is in netns %d, the pod's is %d (%s)", pid, ino, c.podNet, pn.netns)
	}
	want := fmt.Sprintf("net:[%d]", c.podNet)
	if out := strings.TrimSpace(c.mustCrictl(t, "exec", "-s", id, "readlink", "/proc/self/ns/net")); out != want {
		t.Errorf("in the container, /proc/self/ns/net is %q; the pod's netns is %s", out, want)
	}
	t.Logf("pod %s at %s, netns %s: the sandbox's, the container's init's and its exec's", pod, pn.ip, want)

	// The container connects to the VM.
	l, err := net.Listen("tcp4", net.JoinHostPort(criGateway, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	done := c.crictlBackground("exec", "-s", id, "sh", "-c", fmt.Sprintf("echo hello from the pod | nc %s %d", criGateway, port))
	conn := acceptWithin(t, l, time.Minute)
	c.exchange(t, conn, pn.ip, netip.MustParseAddr(criGateway), "")
	if r := <-done; r.err != nil {
		t.Errorf("crictl exec nc %s %d: %v\nstderr: %s", criGateway, port, r.err, r.stderr)
	}

	// The VM connects to the container.
	done = c.crictlBackground("exec", "-s", id, "sh", "-c", "echo hello from the pod | nc -l -p 8080")
	conn = dialWithin(t, netip.AddrPortFrom(pn.ip, 8080), time.Minute)
	c.exchange(t, conn, pn.ip, netip.MustParseAddr(criGateway), "hello from the VM\n")
	// crictl exec -s ends stdout, then stderr, with a newline of its own.
	r := <-done
	if r.err != nil || strings.TrimSpace(r.stdout) != "hello from the VM" {
		t.Errorf("crictl exec nc -l -p 8080: %v, stdout %q, want \"hello from the VM\"\nstderr: %s", r.err, r.stdout, r.stderr)
	}
}

// checkBridge: the bridge plugin made criBridge with the gateway address,
// and the pod's veth is its one port.
func checkBridge(t *testing.T) {
	t.Helper()
	br, err := net.InterfaceByName(criBridge)
	if err != nil {
		t.Fatalf("the pod network's bridge: %v", err)
	}
	addrs, err := br.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, a := range addrs {
		found = found || a.String() == criGateway+"/16"
	}
	ports, _ := os.ReadDir(filepath.Join("/sys/class/net", criBridge, "brif"))
	if !found || len(ports) != 1 {
		t.Errorf("bridge %s: addresses %v, %d ports; want %s/16 and the pod's veth", criBridge, addrs, len(ports), criGateway)
		return
	}
	if l, err := netlink.LinkByName(ports[0].Name()); err != nil || l.Type() != "veth" {
		t.Errorf("bridge %s: port %s is not a veth (%v)", criBridge, ports[0].Name(), err)
	}
}

// exchange checks a connection of the VM's with the pod, made either way:
// its ends are the pod's address and the gateway's, the pod's side sends
// "hello from the pod", and send (if any) goes the other way before the
// VM's side closes it.
func (c *cri) exchange(t *testing.T, conn net.Conn, pod, gw netip.Addr, send string) {
	t.Helper()
	defer conn.Close()
	local, remote := conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr(), conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	if remote.Unmap() != pod || local.Unmap() != gw {
		t.Errorf("connection %v -> %v, want between the gateway %s and the pod's %s", local, remote, gw, pod)
	}
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if send != "" {
		if _, err := io.WriteString(conn, send); err != nil {
			t.Errorf("sending to the pod: %v", err)
		}
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "hello from the pod\n" {
		t.Errorf("from the pod: %q, %v; want \"hello from the pod\\n\"", line, err)
	}
}

// toolResult is how a command run in the background ended.
type toolResult struct {
	stdout, stderr string
	err            error
}

// crictlBackground runs crictl with args, as crictl does, in the
// background (it must not fail the test from another goroutine), bounded
// like crictl's other calls.
func (c *cri) crictlBackground(args ...string) <-chan toolResult {
	ep := "unix://" + c.sock
	done := make(chan toolResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.bins.Path("crictl"), append([]string{"--runtime-endpoint", ep,
			"--image-endpoint", ep, "--timeout", "3m"}, args...)...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		done <- toolResult{o.String(), e.String(), err}
	}()
	return done
}

// acceptWithin accepts one connection on l, failing the test after limit.
func acceptWithin(t *testing.T, l net.Listener, limit time.Duration) net.Conn {
	t.Helper()
	if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(limit)); err != nil {
		t.Fatal(err)
	}
	conn, err := l.Accept()
	if err != nil {
		t.Fatalf("no connection from the pod on %v: %v", l.Addr(), err)
	}
	return conn
}

// dialWithin connects to addr, again while it refuses (nothing listens
// there yet), failing the test after limit.
func dialWithin(t *testing.T, addr netip.AddrPort, limit time.Duration) net.Conn {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("tcp", addr.String(), 10*time.Second)
		if err == nil {
			return conn
		}
		if !errors.Is(err, unix.ECONNREFUSED) || time.Now().After(deadline) {
			t.Fatalf("connecting to the pod at %v: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The window over which testPodBandwidth measures a stream's rate, after
// its first podWarm bytes. At 8 Mbit/s the limiter lets a flow run ahead
// of the rate by up to its idle burst (64 KiB, 66 ms) and then as far as
// its virtual queue's ceiling (some 0.56 s of line time on egress, 0.43 s
// on ingress) before it drops; a stream's first bytes come in that
// credit. Timed from the first MiB on (about a second at the rate) the
// credit is spent, and what stays is how far the backlog at the window's
// end lies from the one at its start: at most the ceiling plus the burst,
// 0.63 s, which over 6 s is +10%. Hence the bounds: at most 1.12x the
// rate, at least 0.75x (TCP held by the limiter's congestion signals runs
// below it, not far below).
const (
	podWarm      = 1 << 20
	podWindow    = 6 * time.Second
	podRateAbove = 1.12
	podRateBelow = 0.75
)

// testPodBandwidth: the pod's bandwidth annotations (8M each way) hold a
// container's traffic over the pod network, bridge and veth, to their
// rate: there is no bandwidth CNI plugin, confine-runtime's limiter on the
// container's cgroup acts on its sockets whatever device carries them. A
// stream from the container's busybox nc to the VM's side of the bridge
// (the container's egress, counted as the VM receives it) and one from the
// VM to an nc listening in the container (its ingress, counted in the
// file nc writes) each run at the rate within [podRateBelow, podRateAbove]
// over podWindow; the same path unlimited (the VM to a socket of the
// test's own cgroup in the pod's netns) is at least 4 times as fast.
func (c *cri) testPodBandwidth(t *testing.T, pod, podJSON string) {
	pn := c.podNetwork(t, pod)
	id := c.runContainer(t, pod, podJSON, ctrConfig("bandwidth-net", []string{"sleep", "1000"}, nil))
	defer c.removeContainer(t, id)
	cg, pid := containerCgroup(t, id)
	before := networkStats(t, cg)

	egress := c.podEgress(t, id)
	ingress := c.podIngress(t, id, pn, pid)
	free := unlimitedPodRate(t, pn)
	t.Logf("over the pod network at %d bit/s, %v after the first MiB: egress %.0f bit/s (%.3fx), ingress %.0f bit/s (%.3fx); "+
		"unlimited (the test's cgroup in the pod's netns) %.0f bit/s", criBandwidth, podWindow,
		egress, egress/criBandwidth, ingress, ingress/criBandwidth, free)
	for _, d := range []struct {
		name string
		rate float64
	}{{"egress", egress}, {"ingress", ingress}} {
		if d.rate > podRateAbove*criBandwidth || d.rate < podRateBelow*criBandwidth {
			t.Errorf("%s over the pod network: %.0f bit/s, the limit is %d: not held to the rate (allowed %.2f-%.2fx)",
				d.name, d.rate, criBandwidth, podRateBelow, podRateAbove)
		}
	}
	if free < 4*criBandwidth {
		t.Errorf("unlimited over the pod network: %.0f bit/s, under 4x the %d bit/s limit: the limit's effect is not shown", free, criBandwidth)
	}
	s := networkStats(t, cg)
	t.Logf("container's limiter: egress %d bytes (%d marked, %d dropped), ingress %d bytes (%d marked, %d dropped)",
		s.Egress.Bytes-before.Egress.Bytes, s.Egress.Marked-before.Egress.Marked, s.Egress.DroppedPackets-before.Egress.DroppedPackets,
		s.Ingress.Bytes-before.Ingress.Bytes, s.Ingress.Marked-before.Ingress.Marked, s.Ingress.DroppedPackets-before.Ingress.DroppedPackets)
	if s.Egress.Bytes-before.Egress.Bytes < podWarm || s.Ingress.Bytes-before.Ingress.Bytes < podWarm {
		t.Errorf("%s: the limiter's counters %+v (before: %+v) did not see the streams", cg, s, before)
	}
}

// podEgress measures a stream of zeros from the container to a listener
// of the VM's on the gateway address, counted as it arrives.
func (c *cri) podEgress(t *testing.T, id string) float64 {
	l, err := net.Listen("tcp4", net.JoinHostPort(criGateway, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// More than the window can carry: the VM's side ends the stream.
	done := c.crictlBackground("exec", "-s", id, "sh", "-c",
		fmt.Sprintf("dd if=/dev/zero bs=64k count=1024 2>/dev/null | nc %s %d", criGateway, port))
	conn := acceptWithin(t, l, time.Minute)
	var got atomic.Int64
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	rate := measureRate(t, "the egress stream", got.Load)
	conn.Close()
	<-copied
	<-done // nc's exit status says only that the stream was cut
	return rate
}

// podIngress measures a stream of zeros from the VM to nc listening in the
// container, counted in the file nc writes (read through the container
// init's /proc/PID/root).
func (c *cri) podIngress(t *testing.T, id string, pn podNet, pid int) float64 {
	recv := fmt.Sprintf("/proc/%d/root/tmp/recv", pid)
	done := c.crictlBackground("exec", "-s", id, "sh", "-c", "nc -l -p 5002 > /tmp/recv")
	conn := dialWithin(t, netip.AddrPortFrom(pn.ip, 5002), time.Minute)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		buf := make([]byte, 64<<10)
		for {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	rate := measureRate(t, "the ingress stream", func() int64 {
		fi, err := os.Stat(recv)
		if err != nil {
			return 0
		}
		return fi.Size()
	})
	// Reset, not closed: what the send buffer holds would take seconds
	// more to drain at the rate.
	_ = conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
	<-sent
	if r := <-done; r.err != nil {
		t.Errorf("crictl exec nc -l -p 5002: %v\nstderr: %s", r.err, r.stderr)
	}
	return rate
}

// measureRate waits for count to pass podWarm, then returns the rate in
// bits per second at which it grows over podWindow.
func measureRate(t *testing.T, what string, count func() int64) float64 {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); count() < podWarm; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d bytes after a minute, want %d", what, count(), podWarm)
		}
	}
	b0, t0 := count(), time.Now()
	time.Sleep(podWindow)
	b1, t1 := count(), time.Now()
	return float64(b1-b0) * 8 / t1.Sub(t0).Seconds()
}

// unlimitedPodRate is the rate of a 16 MiB stream over the same path, the
// VM's side of the bridge to the pod's address, to a socket of the test's
// own cgroup (which has no limiter) made in the pod's netns.
func unlimitedPodRate(t *testing.T, pn podNet) float64 {
	t.Helper()
	const size = 16 << 20
	h, err := netns.OpenPath(pn.netns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var l net.Listener
	if err := namespace.Do(func() error {
		var err error
		l, err = net.Listen("tcp4", net.JoinHostPort(pn.ip.String(), "0"))
		return err
	}, h); err != nil {
		t.Fatalf("listening in the pod's netns: %v", err)
	}
	return size * 8 / streamTime(t, l, size, "unlimited stream to the pod's netns").Seconds()
}
