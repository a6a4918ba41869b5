package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

// Kubernetes' path (tier 3): containerd's CRI plugin, driven by crictl as
// the kubelet would drive it, runs a pod sandbox and a container with the
// RuntimeClass handler `confine`, registered exactly as the README shows.
// No network in the VM: the sandbox (pause) image is one this test makes
// and imports. The pod is networked as a Kubernetes pod is: the CRI plugin
// makes its netns, runs the CNI plugins bridge and host-local on it (a
// bridge in the VM, a private subnet), and hands confine-runtime the
// netns's path to join. `make test-vm` runs it (crictl and the CNI plugins
// come from internal/containerdbuild).

// criRuntimeConfig is the README's snippet registering confine-runtime as
// the runtime handler `confine`, word for word (TestREADMECRIConfig holds
// the README to it); the test puts its runtime at that BinaryName. CRI
// hands a pod's annotations to its sandbox's and containers' OCI specs
// only where the runtime's pod_annotations list them (patterns as
// path.Match takes them): here the bandwidth annotations.
const criRuntimeConfig = `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.confine]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = ["kubernetes.io/ingress-bandwidth", "kubernetes.io/egress-bandwidth"]
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.confine.options]
    BinaryName = "/usr/local/bin/confine-runtime"
`

const (
	criSock    = "/run/containerd/containerd.sock"
	criNS      = "k8s.io" // the containerd namespace of CRI's images and containers
	criPause   = "confine.test/pause:latest"
	criRuntime = "/usr/local/bin/confine-runtime" // criRuntimeConfig's BinaryName
	// The shim runs its runtime with --root /run/containerd/runc/NAMESPACE
	// unless told otherwise, as the README's config does not.
	criRTRoot = "/run/containerd/runc/" + criNS
	// The pod's cgroup parent, as the kubelet passes one per pod.
	criCgroupParent = "/confine-cri/pod-confine"
	bpfFS           = "/sys/fs/bpf" // where the runtime's cgroups pin their programs
)

// The pod network: CNI's bridge plugin puts each pod's veth on a bridge
// of the VM's, holding the gateway address, and host-local hands out
// addresses of a private subnet. No masquerading: nothing leaves the VM
// (it has no network but lo), traffic only flows between the VM's own
// side of the bridge and the pod.
const (
	criCNIBin  = "/opt/cni/bin" // where nodes keep CNI plugins (containerd's default bin_dirs)
	criNetName = "confine-pod-net"
	criBridge  = "cni0"
	criSubnet  = "10.88.0.0/16"
	criGateway = "10.88.0.1" // the bridge's address: isGateway, host-local's first
	// CRI makes a pod's netns a file here (NewNetNS's mount directory),
	// named cni-UUID.
	criNetnsDir = "/var/run/netns"
)

// criConfig is the rest of containerd's CRI configuration: the sandbox
// image is the imported one (CRI pulls it only when it is not already
// there), and CNI finds the plugins at criCNIBin and the network config
// (criConflist) in a directory of the test's.
func criConfig(base string) string {
	return criRuntimeConfig + fmt.Sprintf(`
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = %q

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = [%q]
  conf_dir = %q
`, criPause, criCNIBin, filepath.Join(base, "cni", "net.d"))
}

// criConflist is the pod network's CNI config: a bridge with the gateway
// address and host-local addresses of criSubnet (a default route through
// the gateway, as on a node), its reservations kept in dataDir. No
// bandwidth plugin: the pod's annotations reach confine-runtime, whose
// limiter holds the pod's traffic to them.
func criConflist(dataDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, criNetName, criBridge, criSubnet, criGateway, dataDir)
}

// TestREADMECRIConfig: the README shows the configuration TestVMCRI runs.
func TestREADMECRIConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```toml\n"+criRuntimeConfig+"```\n")) {
		t.Errorf("README.md does not show the CRI runtime config TestVMCRI proves:\n%s", criRuntimeConfig)
	}
}

// cri is containerd with its CRI plugin, and crictl.
type cri struct {
	*ctrd
	logDir  string          // the pod's log_directory
	ipamDir string          // host-local's dataDir
	veths   map[string]bool // veth devices of the VM before the pod
	podNet  uint64          // the pod netns's inode, once checkPod saw it
}

func TestVMCRI(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireRoot(t)
	testutil.RequireController(t, "memory")
	c := startCRI(t)
	c.importImage(t, ctrdImage, []string{"sh"})
	c.importImage(t, criPause, []string{"sleep", "inf"}) // a pause that never exits
	if out := c.mustCrictl(t, "images"); !strings.Contains(out, "confine.test/pause") || !strings.Contains(out, "confine.test/busybox") {
		t.Fatalf("crictl images does not list the imported images:\n%s", out)
	}

	podJSON, ctrJSON := c.writeConfigs(t)
	pod := strings.TrimSpace(c.mustCrictl(t, "runp", "--runtime", "confine", podJSON))
	t.Logf("pod %s", pod)
	c.checkPod(t, pod)
	id := strings.TrimSpace(c.mustCrictl(t, "create", "--no-pull", pod, ctrJSON, podJSON))
	c.mustCrictl(t, "start", id)
	c.checkContainer(t, pod, id)
	c.checkExec(t, id)
	for _, st := range []struct {
		name string
		fn   func(t *testing.T, pod, podJSON string)
	}{{"limits", c.testLimits}, {"unified", c.testUnified}, {"oom", c.testOOM}, {"cpu-throttle", c.testCPUThrottle},
		{"network", c.testNetwork}, {"bandwidth", c.testBandwidth}, {"bandwidth-pod-network", c.testPodBandwidth}} {
		t.Run(st.name, func(t *testing.T) { st.fn(t, pod, podJSON) })
	}

	// What checkNothingLeft looks for is there while the pod runs.
	left := strings.Join(c.leftovers(t), "\n")
	t.Logf("of the running pod:\n%s", left)
	for _, k := range []string{"cgroup", "runtime state", "mount", "process", "pins", "netns", "veth", "bridge port", "ip reservation"} {
		if !strings.Contains("\n"+left, "\n"+k+" ") {
			t.Errorf("no %s seen of the running pod; seen:\n%s", k, left)
		}
	}
	c.mustCrictl(t, "stop", id)
	c.mustCrictl(t, "rm", id)
	c.mustCrictl(t, "stopp", pod)
	c.mustCrictl(t, "rmp", pod)
	c.checkNothingLeft(t)
	for _, cg := range []string{criCgroupParent, filepath.Dir(criCgroupParent)} {
		// The kubelet removes its pod cgroups; here the test does.
		if err := os.Remove(filepath.Join(testutil.UnifiedMount(), cg)); err != nil {
			t.Errorf("removing the pod's cgroup parent: %v", err)
		}
	}
}

// startCRI puts the runtime at the README's BinaryName, the CNI plugins
// and the pod network's config in place (setupCNI), and starts containerd
// with the CRI plugin on the usual socket.
func startCRI(t *testing.T) *cri {
	base := t.TempDir()
	if _, err := os.Stat(criRuntime); err == nil {
		t.Fatalf("%s exists: the test puts its own runtime there", criRuntime)
	}
	if err := os.MkdirAll(filepath.Dir(criRuntime), 0o755); err != nil {
		t.Fatal(err)
	}
	writeRuntimeScript(t, criRuntime)
	t.Cleanup(func() { os.Remove(criRuntime) })
	for _, dir := range []string{"cni/net.d", "logs"} {
		if err := os.MkdirAll(filepath.Join(base, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := &cri{ctrd: &ctrd{bins: containerdBins(t), ns: criNS, base: base, sock: criSock,
		log: filepath.Join(base, "containerd.log"), runtime: criRuntime},
		logDir: filepath.Join(base, "logs"), ipamDir: filepath.Join(base, "cni", "networks")}
	c.setupCNI(t)
	c.start(t, criConfig(base))
	return c
}

// crictl runs crictl against this containerd, as the kubelet would talk
// to it (one socket for runtime and images).
func (c *cri) crictl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ep := "unix://" + c.sock
	// --timeout bounds each call: emulated CPU, seconds per sandbox.
	return c.tool(t, 4*time.Minute, "crictl", append([]string{"--runtime-endpoint", ep,
		"--image-endpoint", ep, "--timeout", "3m"}, args...)...)
}

func (c *cri) mustCrictl(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := c.crictl(t, args...)
	if code != 0 {
		t.Fatalf("crictl %s: exit %d\nstdout: %s\nstderr: %s\ncontainerd's log:\n%s", strings.Join(args, " "), code, out, errs, c.logTail())
	}
	return out
}

// writeConfigs writes the pod's and the container's CRI configs, as the
// kubelet would send them: a pod with a network of its own (namespace
// mode POD, the default) in its own cgroup parent, with DNS config of its
// own (the VM has no /etc/resolv.conf to copy) and the bandwidth
// annotations (criPodAnnotations); a container printing a line, then
// sleeping.
func (c *cri) writeConfigs(t *testing.T) (pod, ctr string) {
	podCfg := map[string]any{
		"metadata":      map[string]any{"name": "confine-pod", "namespace": "default", "uid": "confine-pod-uid", "attempt": 1},
		"log_directory": c.logDir,
		"dns_config":    map[string]any{"searches": []string{"confine.test"}},
		"annotations":   criPodAnnotations,
		"linux":         map[string]any{"cgroup_parent": criCgroupParent},
	}
	ctrCfg := map[string]any{
		"metadata": map[string]any{"name": "hello"},
		"image":    map[string]any{"image": ctrdImage},
		"command":  []string{"sh", "-c", "echo hello from confine; exec sleep 1000"},
		"log_path": "hello.log",
		"linux":    map[string]any{},
	}
	pod, ctr = filepath.Join(c.base, "pod.json"), filepath.Join(c.base, "ctr.json")
	writeJSON(t, pod, podCfg)
	writeJSON(t, ctr, ctrCfg)
	return pod, ctr
}

// checkPod: the pod is ready with the handler confine, and its sandbox
// (pause) container is confine-runtime's: its state under the shim's
// --root says running, in the pod's cgroup parent. Its network namespace
// is the one CRI made and handed the runtime (podNetwork); leftovers
// looks for it from here on.
func (c *cri) checkPod(t *testing.T, pod string) {
	var st struct {
		Status struct {
			State          string `json:"state"`
			RuntimeHandler string `json:"runtimeHandler"`
		} `json:"status"`
	}
	mustJSON(t, []byte(c.mustCrictl(t, "inspectp", "-o", "json", pod)), &st)
	if st.Status.State != "SANDBOX_READY" || st.Status.RuntimeHandler != "confine" {
		t.Errorf("crictl inspectp: state %s, runtime handler %q; want SANDBOX_READY, confine", st.Status.State, st.Status.RuntimeHandler)
	}
	pid := rtState(t, pod, filepath.Join(criCgroupParent, pod))
	pn := c.podNetwork(t, pod)
	c.podNet = nsInode(t, pn.netns)
	if got := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid)); got != c.podNet {
		t.Errorf("the sandbox (pid %d) is in netns %d, not in %s (%d), the one CRI made", pid, got, pn.netns, c.podNet)
	}
	t.Logf("pod address %s, netns %s (inode %d)", pn.ip, pn.netns, c.podNet)
}

// rtState checks confine-runtime's own view of container id: running, in
// cgroup cg (relative to the unified mount), its pid in that cgroup.
func rtState(t *testing.T, id, cg string) int {
	t.Helper()
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	mustJSON(t, []byte(mustRT(t, criRTRoot, "state", id)), &st)
	if st.Status != "running" {
		t.Errorf("confine-runtime --root %s state %s: %s, want running", criRTRoot, id, st.Status)
	}
	procs, err := os.ReadFile(filepath.Join(testutil.UnifiedMount(), cg, "cgroup.procs"))
	if err != nil || !strings.Contains("\n"+string(procs), "\n"+strconv.Itoa(st.Pid)+"\n") {
		t.Errorf("%s's pid %d not in %s/cgroup.procs (%q, %v)", id, st.Pid, cg, procs, err)
	}
	return st.Pid
}

// checkContainer: the container runs, CRI says with the runc shim running
// confine-runtime, confine-runtime's state has it, and its output reached
// CRI's log (crictl logs).
func (c *cri) checkContainer(t *testing.T, pod, id string) {
	var st struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
		Info struct {
			SandboxID      string `json:"sandboxID"`
			RuntimeType    string `json:"runtimeType"`
			RuntimeOptions struct {
				BinaryName string `json:"binary_name"`
			} `json:"runtimeOptions"`
		} `json:"info"`
	}
	mustJSON(t, []byte(c.mustCrictl(t, "inspect", "-o", "json", id)), &st)
	if st.Status.State != "CONTAINER_RUNNING" || st.Info.SandboxID != pod || st.Info.RuntimeType != "io.containerd.runc.v2" ||
		st.Info.RuntimeOptions.BinaryName != criRuntime {
		t.Errorf("crictl inspect: %+v; want CONTAINER_RUNNING in pod %s, runtime io.containerd.runc.v2 with binary %s", st, pod, criRuntime)
	}
	rtState(t, id, filepath.Join(criCgroupParent, id))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		out, errs, _ := c.crictl(t, "logs", id)
		if out == "hello from confine\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("crictl logs %s: stdout %q, stderr %q; want \"hello from confine\\n\"", id, out, errs)
			break
		}
	}
}

// checkExec: crictl exec, synchronous (ExecSync) and streamed (Exec,
// through CRI's streaming server), runs a process in the container: in
// the pod's PID namespace, whose init is the pause's `sleep inf`. A
// command's exit status reaches crictl, which reports it in its error
// (and exits 1 itself).
func (c *cri) checkExec(t *testing.T, id string) {
	script := "echo exec; tr '\\0' ' ' </proc/1/cmdline"
	want := "exec\nsleep inf"
	for _, e := range []struct {
		flags  []string
		status string // how crictl reports exit 3
	}{{[]string{"-s"}, "exited with 3"}, {nil, "command terminated with exit code 3"}} {
		args := append(append([]string{"exec"}, e.flags...), id)
		out := c.mustCrictl(t, append(args, "sh", "-c", script)...)
		// crictl exec -s prints stdout and stderr, each with a newline.
		if strings.TrimSpace(out) != want {
			t.Errorf("crictl %s: stdout %q, want %q", strings.Join(args, " "), out, want)
		}
		if _, errs, code := c.crictl(t, append(args, "sh", "-c", "exit 3")...); code != 1 || !strings.Contains(errs, e.status) {
			t.Errorf("crictl %s sh -c 'exit 3': exit %d, stderr %q; want exit 1 and %q", strings.Join(args, " "), code, errs, e.status)
		}
	}
}

// checkNothingLeft: once the pod is removed, nothing of it remains (the
// shim exits after its last container: it gets a little time).
func (c *cri) checkNothingLeft(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left := c.leftovers(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left 30s after crictl rmp:\n%s", strings.Join(left, "\n"))
			return
		}
	}
}

// leftovers lists what exists of the pod: pods and containers CRI or
// containerd know, cgroups below the pod's parent, confine-runtime state,
// mounts below containerd's directories, processes (shims, runtimes,
// anything in the pod's cgroups), and its network (networkLeftovers:
// netns, veth, bridge port, address reservation).
func (c *cri) leftovers(t *testing.T) []string {
	t.Helper()
	var left []string
	for _, id := range strings.Fields(c.mustCrictl(t, "pods", "-q")) {
		left = append(left, "pod "+id)
	}
	for _, id := range strings.Fields(c.mustCrictl(t, "ps", "-a", "-q")) {
		left = append(left, "CRI container "+id)
	}
	for _, id := range strings.Fields(c.mustCtr(t, "container", "ls", "-q")) {
		left = append(left, "container "+id)
	}
	parent := filepath.Join(testutil.UnifiedMount(), criCgroupParent)
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		if e.IsDir() {
			left = append(left, "cgroup "+filepath.Join(parent, e.Name()))
		}
	}
	ents, _ = os.ReadDir(criRTRoot)
	for _, e := range ents {
		left = append(left, "runtime state "+filepath.Join(criRTRoot, e.Name()))
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (strings.HasPrefix(f[4], c.base+"/") || strings.HasPrefix(f[4], "/run/containerd/")) {
			left = append(left, "mount "+f[4])
		}
	}
	// The limiter's and the device programs' pins (nothing else in the
	// VM pins there while this test runs).
	ents, _ = os.ReadDir(filepath.Join(bpfFS, "confine"))
	for _, e := range ents {
		left = append(left, "pins "+filepath.Join(bpfFS, "confine", e.Name()))
	}
	for _, p := range c.ownProcesses(criCgroupParent) {
		left = append(left, "process "+p)
	}
	return append(left, c.networkLeftovers(t, string(mi))...)
}
