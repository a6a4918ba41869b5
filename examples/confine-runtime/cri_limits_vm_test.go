package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/testutil"
)

// What TestVMCRI's pod proves of resource limits: the CRI's
// linux.resources reach the container's cgroup files and the kernel
// enforces them, and the pod's bandwidth annotations (passed through by
// the runtime's pod_annotations) become confine's eBPF limiter on every
// cgroup of the pod.

// The pod's bandwidth annotations (criPodAnnotations), bits per second.
const criBandwidth = 8_000_000

// criPodAnnotations are the pod's annotations, as a pod spec's
// metadata.annotations reach the CRI.
var criPodAnnotations = map[string]string{annotationEgress: "8M", annotationIngress: "8M"}

// ctrConfig is a CRI ContainerConfig of the test's image running cmd with
// linux.resources res (nil for none).
func ctrConfig(name string, cmd []string, res map[string]any) map[string]any {
	linux := map[string]any{}
	if res != nil {
		linux["resources"] = res
	}
	return map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": ctrdImage},
		"command":  cmd,
		"log_path": name + ".log",
		"linux":    linux,
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runContainer creates and starts a container of cfg in the pod, as the
// kubelet does, and returns its id. removeContainer stops and removes it.
func (c *cri) runContainer(t *testing.T, pod, podJSON string, cfg map[string]any) string {
	t.Helper()
	id := c.createContainer(t, pod, podJSON, cfg)
	c.mustCrictl(t, "start", id)
	return id
}

func (c *cri) createContainer(t *testing.T, pod, podJSON string, cfg map[string]any) string {
	t.Helper()
	path := filepath.Join(c.base, cfg["metadata"].(map[string]any)["name"].(string)+".json")
	writeJSON(t, path, cfg)
	return strings.TrimSpace(c.mustCrictl(t, "create", "--no-pull", pod, path, podJSON))
}

func (c *cri) removeContainer(t *testing.T, id string) {
	t.Helper()
	c.mustCrictl(t, "stop", id)
	c.mustCrictl(t, "rm", id)
}

// containerCgroup is the cgroup (absolute path) the kernel has the
// container's init in, by /proc/PID/cgroup of the pid confine-runtime's
// state gives; it must be the one CRI asked for, below the pod's parent.
func containerCgroup(t *testing.T, id string) (cg string, pid int) {
	t.Helper()
	pid = rtState(t, id, filepath.Join(criCgroupParent, id))
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	rel, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
	if want := filepath.Join(criCgroupParent, id); !ok || rel != want {
		t.Fatalf("/proc/%d/cgroup: %q, want 0::%s", pid, b, want)
	}
	return filepath.Join(testutil.UnifiedMount(), rel), pid
}

// testLimits: memory_limit_in_bytes, cpu_quota/cpu_period and cpu_shares
// of a CRI container config are the container cgroup's memory.max,
// cpu.max and cpu.weight (shares 512 is weight 20 by runc's formula).
// The CRI has no pids field: the kubelet limits a pod's pids on the pod's
// cgroup itself, and only linux.resources.unified carries a container's
// pids.max (testUnified).
func (c *cri) testLimits(t *testing.T, pod, podJSON string) {
	id := c.runContainer(t, pod, podJSON, ctrConfig("limits", []string{"sleep", "1000"}, map[string]any{
		"memory_limit_in_bytes": 32 << 20, "cpu_period": 100000, "cpu_quota": 50000, "cpu_shares": 512}))
	defer c.removeContainer(t, id)
	cg, _ := containerCgroup(t, id)
	for _, f := range [][2]string{{"memory.max", "33554432"}, {"cpu.max", "50000 100000"}, {"cpu.weight", "20"}} {
		if got := readCgroupFile(t, cg, f[0]); got != f[1] {
			t.Errorf("%s/%s: %q, want %q", cg, f[0], got, f[1])
		} else {
			t.Logf("%s: %s", f[0], got)
		}
	}
	networkStats(t, cg) // the pod's bandwidth annotations reach every container
}

// testUnified: linux.resources.unified, the CRI's one way to a
// container's pids limit, reaches the container's cgroup as runc writes
// it: unified["pids.max"] is the cgroup's pids.max, and the kernel holds
// the container to it. Once the cgroup has that many tasks (the
// container's sleep and /bin/sleep children the test starts in it with
// CLONE_INTO_CGROUP) the next fork fails with EAGAIN, and pids.events
// counts the refusal.
func (c *cri) testUnified(t *testing.T, pod, podJSON string) {
	const limit = 16
	id := c.runContainer(t, pod, podJSON, ctrConfig("unified", []string{"sleep", "1000"},
		map[string]any{"unified": map[string]string{"pids.max": strconv.Itoa(limit)}}))
	defer c.removeContainer(t, id)
	cg, _ := containerCgroup(t, id)
	if got := readCgroupFile(t, cg, "pids.max"); got != strconv.Itoa(limit) {
		t.Fatalf("%s/pids.max: %q, want %d from unified", cg, got, limit)
	}
	h, err := cgroup.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var kids []*exec.Cmd
	defer func() { // before removeContainer: they are not in the container's pid namespace
		for _, k := range kids {
			_ = k.Process.Kill()
			_ = k.Wait()
		}
	}()
	var forkErr error
	for i := 0; i < 2*limit && forkErr == nil; i++ {
		k := exec.Command("/bin/sleep", "1000")
		k.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: h.FD()}
		if forkErr = k.Start(); forkErr == nil {
			kids = append(kids, k)
		}
	}
	cur, events := readCgroupFile(t, cg, "pids.current"), readCgroupFile(t, cg, "pids.events")
	t.Logf("pids.max %d: %d children started, then %v; pids.current %s, pids.events %q", limit, len(kids), forkErr, cur, events)
	if !errors.Is(forkErr, unix.EAGAIN) || cur != strconv.Itoa(limit) {
		t.Errorf("fork into the container's cgroup at pids.current %s: %v; want EAGAIN at %d", cur, forkErr, limit)
	}
	if n, ok := strings.CutPrefix(events, "max "); !ok || n == "0" {
		t.Errorf("pids.events %q: want the refused fork counted", events)
	}
}

// testOOM: a container allocating 64 MiB under a 16 MiB
// memory_limit_in_bytes is OOM-killed: CRI reports it exited 137 with
// reason OOMKilled, and memory.events of the pod's cgroup, which counts
// its containers' (the container's own is gone with it once CRI deletes
// the task), has one more oom_kill. The sleep lets the shim watch the
// container's memory.events before the kill.
func (c *cri) testOOM(t *testing.T, pod, podJSON string) {
	podCg := filepath.Join(testutil.UnifiedMount(), criCgroupParent)
	before := oomKills(t, podCg)
	id := c.runContainer(t, pod, podJSON, ctrConfig("oom",
		[]string{"sh", "-c", "sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1"},
		map[string]any{"memory_limit_in_bytes": 16 << 20}))
	defer c.mustCrictl(t, "rm", id)
	var st struct {
		Status struct {
			State    string `json:"state"`
			ExitCode int    `json:"exitCode"`
			Reason   string `json:"reason"`
		} `json:"status"`
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		mustJSON(t, []byte(c.mustCrictl(t, "inspect", "-o", "json", id)), &st)
		if st.Status.State == "CONTAINER_EXITED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container is still %s 2 minutes after start", st.Status.State)
		}
	}
	t.Logf("crictl inspect: exit code %d, reason %s", st.Status.ExitCode, st.Status.Reason)
	if st.Status.ExitCode != 137 || st.Status.Reason != "OOMKilled" {
		t.Errorf("crictl inspect: exit code %d, reason %q; want 137, OOMKilled", st.Status.ExitCode, st.Status.Reason)
	}
	if n := oomKills(t, podCg) - before; n != 1 {
		t.Errorf("oom_kill in %s/memory.events grew by %d, want 1", podCg, n)
	}
}

// testCPUThrottle: cpu_quota/cpu_period 20000/100000 hold a busy loop
// to a fifth of a CPU, and the kernel says it throttled it. Over
// cpuWindow, the container cgroup's cpu.stat usage_usec grows by
// 10-30% of the wall time (20% exactly, TCG's timing noise allowed), and
// nr_throttled by at least half the periods that passed (the loop spends
// its quota in every one). Unthrottled, the loop would take a whole vCPU
// (100%) and nr_throttled would stay 0.
func (c *cri) testCPUThrottle(t *testing.T, pod, podJSON string) {
	const cpuWindow = 2 * time.Second
	id := c.runContainer(t, pod, podJSON, ctrConfig("busy", []string{"sh", "-c", "while :; do :; done"},
		map[string]any{"cpu_period": 100000, "cpu_quota": 20000}))
	defer c.removeContainer(t, id)
	cg, _ := containerCgroup(t, id)
	if got := readCgroupFile(t, cg, "cpu.max"); got != "20000 100000" {
		t.Fatalf("%s/cpu.max: %q, want \"20000 100000\"", cg, got)
	}
	h, err := cgroup.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	read := func() (cgroup.CPUStats, time.Time) {
		var s cgroup.Stats
		if err := h.Stats(&s, cgroup.StatCPU); err != nil {
			t.Fatal(err)
		}
		return s.CPU, time.Now()
	}
	// From the first throttled period on: the loop is running, and
	// spending its quota.
	s0, t0 := read()
	for deadline := t0.Add(time.Minute); s0.NrThrottled == 0; s0, t0 = read() {
		if t0.After(deadline) {
			t.Fatalf("%s: not throttled a minute after start: cpu.stat %+v", cg, s0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(cpuWindow)
	s1, t1 := read()
	share := float64(s1.UsageUsec-s0.UsageUsec) / float64(t1.Sub(t0).Microseconds())
	periods, throttled := s1.NrPeriods-s0.NrPeriods, s1.NrThrottled-s0.NrThrottled
	t.Logf("cpu.max 20000 100000, busy loop over %v: usage_usec +%d (%.1f%% of wall time), nr_periods +%d, nr_throttled +%d, throttled_usec +%d",
		t1.Sub(t0).Round(time.Millisecond), s1.UsageUsec-s0.UsageUsec, 100*share, periods, throttled, s1.ThrottledUsec-s0.ThrottledUsec)
	if share < 0.10 || share > 0.30 {
		t.Errorf("the busy loop used %.1f%% of a CPU under a 20%% quota, want 10-30%%", 100*share)
	}
	if throttled == 0 || 2*throttled < periods {
		t.Errorf("nr_throttled grew by %d in %d periods, want at least half of them", throttled, periods)
	}
}

// testBandwidth: the pod's annotations limit its containers' sockets. The
// stream runs over loopback inside one container (the pod netns's lo),
// through its egress and its ingress limiter: 2 MiB (after a first one)
// take about the time 8 Mbit/s allows, where an unlimited stream takes
// milliseconds. testPodBandwidth measures each direction over the pod
// network. The limiter's
// counters (read through its pins in the runtime's bpffs) saw the stream,
// and the sandbox's cgroup carries the limiter too (as testLimits'
// container does).
func (c *cri) testBandwidth(t *testing.T, pod, podJSON string) {
	// Timed from the first MiB on: a fresh limiter lets the flow run its
	// burst and queue thresholds ahead (a fraction of a second at 8M),
	// which would flatter a short transfer.
	const warm, size = 1 << 20, 3 << 20
	// Port 5001 (0x1389) listening (nc listens on IPv6's any address where
	// it can, IPv4's otherwise) before the sender starts.
	script := "sleep 1000 | nc -l -p 5001 > /tmp/recv & " +
		"until cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':1389 0*:0000 0A'; do sleep 0.1; done; " +
		": > /tmp/start; dd if=/dev/zero bs=64k count=48 2>/dev/null | nc 127.0.0.1 5001; wait"
	id := c.runContainer(t, pod, podJSON, ctrConfig("bandwidth", []string{"sh", "-c", script}, nil))
	defer c.removeContainer(t, id)
	cg, pid := containerCgroup(t, id)
	root := fmt.Sprintf("/proc/%d/root/tmp", pid)
	wait := func(what string, cond func() bool) {
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				out, errs, _ := c.crictl(t, "logs", id)
				t.Fatalf("gave up waiting for %s; crictl logs: %q %q", what, out, errs)
			}
		}
	}
	received := func(n int64) func() bool {
		return func() bool {
			fi, err := os.Stat(filepath.Join(root, "recv"))
			return err == nil && fi.Size() >= n
		}
	}
	wait("the transfer to start", func() bool { _, err := os.Stat(filepath.Join(root, "start")); return err == nil })
	start := time.Now()
	wait("the first MiB", received(warm))
	begin := time.Now()
	wait("the transfer to end", received(size))
	took := time.Since(begin)
	ideal := time.Duration(float64((size-warm)*8) / criBandwidth * float64(time.Second))
	free := loopbackTime(t, size-warm)
	t.Logf("%d bytes in %v after the first MiB (%v from the start) at an %d bit/s limit: ideal %v, %.2fx; "+
		"unlimited, from the test's cgroup: %v", size-warm, took, time.Since(start), criBandwidth, ideal,
		took.Seconds()/ideal.Seconds(), free)
	if took < ideal*3/4 || took > 2*ideal {
		t.Errorf("the stream took %v, the limit allows %v: not held to the rate", took, ideal)
	}
	if took < 3*free { // the unlimited figure swings from 30 to 220 ms under emulation
		t.Errorf("the limited stream took %v, an unlimited one %v: the limit made no difference", took, free)
	}
	s := networkStats(t, cg)
	if s.Egress.Bytes < size || s.Ingress.Bytes < size {
		t.Errorf("%s: limiter counters %+v: want both directions past %d bytes", cg, s, size)
	}
	t.Logf("container's limiter: egress %d bytes (%d marked, %d dropped), ingress %d bytes (%d marked, %d dropped)",
		s.Egress.Bytes, s.Egress.Marked, s.Egress.DroppedPackets, s.Ingress.Bytes, s.Ingress.Marked, s.Ingress.DroppedPackets)
	networkStats(t, filepath.Join(testutil.UnifiedMount(), criCgroupParent, pod))
}

// networkStats reads the limiter's counters of cgroup cg, which must be
// limited.
func networkStats(t *testing.T, cg string) cgroup.NetworkStats {
	t.Helper()
	h, err := cgroup.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var s cgroup.Stats
	if err := h.Stats(&s, cgroup.StatNetwork); err != nil || !s.Network.Limited {
		t.Errorf("%s: network stats %+v, %v; want the limiter attached (Limited)", cg, s.Network, err)
	}
	return s.Network
}

// loopbackTime is how long size bytes take over loopback between two
// sockets of this process, whose cgroup has no limiter.
func loopbackTime(t *testing.T, size int64) time.Duration {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return streamTime(t, l, size, "unlimited loopback stream")
}

// streamTime sends size bytes to l from a socket of this process and
// returns how long they took to arrive, from the connect to the last byte
// read; it closes l.
func streamTime(t *testing.T, l net.Listener, size int64, what string) time.Duration {
	t.Helper()
	defer l.Close()
	got := make(chan int64, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer conn.Close()
		n, _ := io.Copy(io.Discard, conn)
		got <- n
	}()
	begin := time.Now()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Write(make([]byte, size))
	conn.Close()
	if n := <-got; err != nil || n != size {
		t.Fatalf("%s: %d of %d bytes (%v)", what, n, size, err)
	}
	return time.Since(begin)
}
