package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/bwprog"
	"github.com/confinelab/confine/internal/testutil"
)

// Tier 2: the built binary, as root on this host.

func TestExitStatuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{"true"}, 0, ""},
		{[]string{"sh", "-c", "exit 3"}, 3, ""},
		{[]string{"no-such-command-here"}, exitNotFound, "no-such-command-here"},
		{[]string{"/etc/passwd"}, exitNotExecutable, "permission denied"},
		// PID 1 is immune to its own signals; with --init the shell is
		// PID 2 and dies of the SIGKILL it sends itself.
		{[]string{"--init", "sh", "-c", "kill -9 $$"}, 128 + 9, ""},
		{[]string{"--init", "sh", "-c", "exit 4"}, 4, ""},
		{[]string{"--cpus", "lots", "true"}, exitConfine, "--cpus"},
	} {
		r := confine(t, append([]string{"run"}, tc.args...)...)
		if r.code != tc.want || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: exit %d stderr %q, want %d mentioning %q", tc.args, r.code, r.stderr, tc.want, tc.msg)
		}
		if r.code == exitConfine && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: flag error must be one line: %q", tc.args, r.stderr)
		}
	}
}

func TestNamespaces(t *testing.T) {
	r := confine(t, "run", "--hostname", "box", "sh", "-c", "echo $$; hostname; ls /sys/class/net; readlink /proc/1/exe")
	lines := strings.Fields(r.stdout)
	if r.code != 0 || len(lines) != 4 || lines[0] != "1" || lines[1] != "box" || lines[2] != "lo" {
		t.Fatalf("want PID 1, hostname box and only lo, got %q (exit %d)", lines, r.code)
	}
	// --network host keeps the host's interfaces (and their count).
	host, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	r = confine(t, "run", "--network", "host", "sh", "-c", "ls /sys/class/net | wc -l")
	if n, _ := strconv.Atoi(strings.TrimSpace(r.stdout)); n != len(host) {
		t.Fatalf("--network host sees %d interfaces, the host %d", n, len(host))
	}
}

func TestReadOnlyAndTmpfs(t *testing.T) {
	// /var/tmp is a private tmpfs without --rootfs: the write succeeds in
	// the sandbox and never reaches the host; /etc is read-only.
	r := confine(t, "run", "--read-only", "sh", "-c", "echo x > /var/tmp/confine-ro-test; echo x > /etc/confine-ro-test")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Fatalf("--read-only: exit %d, stderr %q; want EROFS", r.code, r.stderr)
	}
	for _, p := range []string{"/var/tmp/confine-ro-test", "/etc/confine-ro-test"} {
		if _, err := os.Stat(p); err == nil {
			_ = os.Remove(p)
			t.Fatalf("the write to %s reached the host", p)
		}
	}
	r = confine(t, "run", "--read-only", "--tmpfs", "/var/tmp:size=1m", "sh", "-c",
		"echo x > /var/tmp/confine-ro-test && cat /var/tmp/confine-ro-test && ! head -c 2m /dev/zero > /var/tmp/big")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "x" {
		t.Fatalf("--tmpfs on a read-only root must be writable and sized: exit %d", r.code)
	}
	if _, err := os.Stat("/var/tmp/confine-ro-test"); err == nil {
		t.Fatal("the tmpfs write reached the host")
	}
}

func TestVolume(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := confine(t, "run", "-v", dir+":/mnt:ro", "sh", "-c", "cat /mnt/in; touch /mnt/out")
	if r.stdout != "hello" || r.code == 0 || !strings.Contains(r.stderr, "Read-only") {
		t.Fatalf("read-only volume: exit %d", r.code)
	}
	r = confine(t, "run", "-v", dir+":/mnt", "-w", "/mnt", "sh", "-c", "touch out")
	if _, err := os.Stat(filepath.Join(dir, "out")); r.code != 0 || err != nil {
		t.Fatalf("writable volume with -w: exit %d, %v", r.code, err)
	}
}

func TestV1BoundFlag(t *testing.T) {
	h, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	r := confine(t, "run", "--memory", "32m", "true")
	if _, bound := h.V1["memory"]; bound {
		if r.code != exitConfine || !strings.HasPrefix(r.stderr, "confine: --memory: cannot be honoured") ||
			!strings.Contains(r.stderr, "cgroup v1") {
			t.Fatalf("want exit 125 naming --memory and cgroup v1, got %d %q", r.code, r.stderr)
		}
		return
	}
	if r.code != 0 {
		t.Fatalf("memory is in cgroup v2 here, --memory must work: %d", r.code)
	}
}

func TestStatsJSON(t *testing.T) {
	h, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	r := confine(t, "run", "--stats", "sh", "-c", "exit 5")
	var m map[string]any
	if err := json.Unmarshal([]byte(lastLine(r.stderr)), &m); err != nil {
		t.Fatalf("stats line: %v", err)
	}
	keys := []string{"exit_code", "wall_ms", "cpu_usage_usec", "cpu_throttled_usec", "memory_peak_bytes",
		"oom_kills", "pids_peak", "io_read_bytes", "io_write_bytes", "net_tx_bytes", "net_rx_bytes",
		"net_delayed_packets", "net_dropped_packets"}
	if len(m) != len(keys) {
		t.Errorf("got %d keys, want %d", len(m), len(keys))
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	if r.code != 5 || m["exit_code"] != 5.0 || m["cpu_usage_usec"] == nil || m["wall_ms"] == nil {
		t.Fatalf("exit %d, stats %v", r.code, m)
	}
	// A controller the v2 hierarchy lacks cannot be measured: null, not 0.
	for ctrl, key := range map[string]string{"memory": "memory_peak_bytes", "pids": "pids_peak", "io": "io_read_bytes", "cpu": "cpu_throttled_usec"} {
		if !contains(h.Controllers, ctrl) && m[key] != nil {
			t.Errorf("%s: %v, want null without the %s controller", key, m[key], ctrl)
		}
	}
	// Traffic is counted by the limiter's programs, which need a BPF
	// filesystem for their pins.
	if bpffs := cgroup.HaveBPFFS() == nil; (m["net_tx_bytes"] == nil) == bpffs {
		t.Errorf("net_tx_bytes %v with a BPF filesystem mounted: %v", m["net_tx_bytes"], bpffs)
	}
}

func TestSeccompDefault(t *testing.T) {
	testutil.RequireCommand(t, "unshare")
	// The kernel lets anyone create a user namespace; Docker's profile
	// refuses it without CAP_SYS_ADMIN. So only seccomp can say EPERM here.
	r := confine(t, "run", "unshare", "--user", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("default profile: exit %d %q, want EPERM", r.code, r.stderr)
	}
	r = confine(t, "run", "--security-opt", "seccomp=unconfined", "unshare", "--user", "true")
	if r.code != 0 {
		t.Fatalf("unconfined: exit %d", r.code)
	}
	prof := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = confine(t, "run", "--security-opt", "seccomp="+prof, "uname")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("profile from a file: exit %d", r.code)
	}
}

func TestCapabilitiesAndDevices(t *testing.T) {
	r := confine(t, "run", "sh", "-c", "grep CapEff /proc/self/status")
	if !strings.Contains(r.stdout, "00000000a80425fb") {
		t.Fatalf("want docker's default effective set a80425fb, got %q", r.stdout)
	}
	r = confine(t, "run", "--cap-drop", "ALL", "sh", "-c", "grep CapEff /proc/self/status")
	if !strings.Contains(r.stdout, "0000000000000000") {
		t.Fatalf("--cap-drop ALL: %q", r.stdout)
	}
	// /dev/kmsg is outside docker's device allowlist: absent from the
	// sandbox's fresh /dev without --device, and refused by the device
	// program (even with CAP_SYSLOG) for an access --device did not grant.
	r = confine(t, "run", "--cap-add", "SYSLOG", "sh", "-c", "test -c /dev/kmsg")
	if r.code == 0 {
		t.Fatalf("/dev/kmsg exists without --device")
	}
	r = confine(t, "run", "--cap-add", "SYSLOG", "--device", "/dev/kmsg:w", "sh", "-c", ": < /dev/kmsg")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("/dev/kmsg read with --device /dev/kmsg:w: exit %d", r.code)
	}
	r = confine(t, "run", "--cap-add", "SYSLOG", "--device", "/dev/kmsg:r", "sh", "-c", ": < /dev/kmsg")
	if r.code != 0 {
		t.Fatalf("/dev/kmsg with --device: exit %d", r.code)
	}
}

func TestSignalForwarded(t *testing.T) {
	cmd := exec.Command(confineBinary(t), "run", "sh", "-c", `trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q: %v", buf, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("SIGTERM did not reach the command")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("want the trap's exit 7, got %v", err)
	}
}

func TestGCAfterSIGKILL(t *testing.T) {
	bin := confineBinary(t)
	parent, dir := runParent(t, "gc")
	// The egress limiter and the device filter pin BPF objects: gc must
	// remove those too. Only this run's pin directory is looked at: tests
	// of other packages pin and unpin beside it meanwhile.
	cmd := exec.Command(bin, "run", "--cgroup-parent", parent, "--egress-rate", "10mbit", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pins := runPinDir(t, dir, cmd.Process.Pid)
	left, _ := filepath.Glob(filepath.Join(dir, "confine-*"))
	if names, err := os.ReadDir(pins); err != nil || len(names) < 2 {
		t.Errorf("want the device and bandwidth pins in %s: %v %v", pins, names, err)
	}
	r := confine(t, "gc", "--cgroup-parent", parent)
	if r.code != 0 || len(gcLines(r, "removed ")) != 0 {
		t.Fatalf("gc must leave a live run alone: %d %q", r.code, r.stdout)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(left) != 1 {
		t.Fatalf("want the run's cgroup, found %v", left)
	}
	r = confine(t, "gc", "--cgroup-parent", parent)
	if got := gcLines(r, "removed "); r.code != 0 || len(got) != 1 || got[0] != left[0] {
		t.Fatalf("gc: exit %d, %q", r.code, r.stdout)
	}
	if _, err := os.Stat(left[0]); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", left[0], err)
	}
	if names, err := os.ReadDir(pins); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pins left in %s: %v %v", pins, names, err)
	}
}

// TestGCRemovedCgroupPins: a run SIGKILLed and its cgroup then removed by
// someone else (a harness's rmdir) leaves the device filter's and the
// bandwidth limiter's pins; gc removes them, the kernel frees the
// limiter's programs and maps, and a live run's pins stay.
func TestGCRemovedCgroupPins(t *testing.T) {
	bin := confineBinary(t)
	parent, dir := runParent(t, "gcpins")
	var runs [2]*exec.Cmd
	var ids [2]string
	for i := range runs {
		runs[i] = exec.Command(bin, "run", "--cgroup-parent", parent, "--egress-rate", "10mbit", "sleep", "600")
		if err := runs[i].Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = runs[i].Process.Kill(); _ = runs[i].Wait() }()
		ids[i] = runPinDir(t, dir, runs[i].Process.Pid, bwprog.PinNames...)
	}
	abandoned, live := ids[0], ids[1]
	objs := pinnedObjects(t, abandoned)
	cg, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("confine-%d-*", runs[0].Process.Pid)))
	_ = runs[0].Process.Kill()
	_ = runs[0].Wait()
	rmdirCgroup(t, cg[0])
	if _, err := os.Stat(filepath.Join(abandoned, bwprog.PinEgress)); err != nil {
		t.Fatalf("pins of the removed cgroup already gone before gc: %v", err)
	}
	r := confine(t, "gc", "--cgroup-parent", parent)
	unpinned := gcLines(r, "unpinned ")
	if r.code != 0 || !slices.Contains(unpinned, abandoned) || slices.Contains(unpinned, live) {
		t.Fatalf("gc: exit %d, unpinned %q; want %s and not %s", r.code, unpinned, abandoned, live)
	}
	users, _ := filepath.Glob(filepath.Join(filepath.Dir(abandoned), "dev-*", filepath.Base(abandoned)))
	if left, err := os.ReadDir(abandoned); !os.IsNotExist(err) || len(users) != 0 {
		t.Fatalf("pins left after gc: %v %v, %v", left, err, users)
	}
	for _, name := range append([]string{"devices"}, bwprog.PinNames...) {
		if _, err := os.Stat(filepath.Join(live, name)); err != nil {
			t.Errorf("gc removed a live run's pin: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for left := objs.Left(); len(left) > 0; left = objs.Left() {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after gc the kernel still has the removed run's %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pinnedObjects returns the programs of the limiter pinned in dir and the
// maps they use.
func pinnedObjects(t *testing.T, dir string) testutil.BPFObjects {
	t.Helper()
	l, err := bwprog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ids, err := l.ProgramIDs()
	if err != nil {
		t.Fatal(err)
	}
	pace, err := l.PacingID()
	if err != nil {
		t.Fatal(err)
	}
	o := testutil.ObjectsOf(t, ids[bwprog.Egress], ids[bwprog.Ingress], pace)
	if len(o.Maps) < 4 {
		t.Fatalf("limiter maps %v: want at least config, state, counters and flows", o.Maps)
	}
	return o
}

// rmdirCgroup removes the cgroup as a harness does: kill what is left in
// it, rmdir. Not testutil.RemoveCgroupTree, which removes the pins too.
func rmdirCgroup(t *testing.T, p string) {
	t.Helper()
	_ = os.WriteFile(filepath.Join(p, "cgroup.kill"), []byte("1"), 0)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		err := unix.Rmdir(p)
		if err == nil {
			return
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			t.Fatalf("rmdir %s: %v", p, err)
		}
	}
}

// runPinDir waits for the cgroup of the run with confine's pid in dir,
// its device link pin and the pins named more, and returns the run's pin
// directory.
func runPinDir(t *testing.T, dir string, pid int, more ...string) string {
	t.Helper()
	for range 200 {
		if cg, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("confine-%d-*", pid))); len(cg) == 1 {
			var st unix.Stat_t
			if unix.Stat(cg[0], &st) == nil {
				pins := filepath.Join("/sys/fs/bpf/confine", fmt.Sprintf("cg-%d", st.Ino))
				if allPinned(pins, append([]string{"devices"}, more...)) {
					return pins
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no cgroup with pins devices %v for run %d in %s", more, pid, dir)
	return ""
}

// allPinned reports whether dir holds every one of names.
func allPinned(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// gcLines returns the paths of gc's output lines starting with prefix
// ("removed ", "unpinned "). Other runs on the host may have left pins
// that gc's sweep also reports.
func gcLines(r result, prefix string) []string {
	var out []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if p, ok := strings.CutPrefix(l, prefix); ok {
			out = append(out, p)
		}
	}
	return out
}

// runParent returns a --cgroup-parent of the test's own (relative, and its
// absolute directory), removed with all it holds, pins included, when the
// test ends.
func runParent(t *testing.T, name string) (parent, dir string) {
	t.Helper()
	h, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	parent = "confine-test-" + name + "-" + strconv.Itoa(os.Getpid())
	dir = filepath.Join(h.Root, parent)
	t.Cleanup(func() { _ = testutil.RemoveCgroupTree(dir) })
	return parent, dir
}

// TestNothingLeftBehind runs a full-featured sandbox and a failing one and
// checks no cgroup, mount or pin of theirs survives.
func TestNothingLeftBehind(t *testing.T) {
	bin := confineBinary(t)
	parent, dir := runParent(t, "leak")
	mounts := mountPoints(t)
	pins, _ := filepath.Glob("/sys/fs/bpf/confine/cg-*")
	for _, args := range [][]string{
		{"--read-only", "--tmpfs", "/tmp", "--egress-rate", "10mbit", "--stats", "true"},
		{"--device", "/dev/kmsg", "no-such-command-here"},
		{"--memory", "32m", "true"},
	} {
		cmd := exec.Command(bin, append([]string{"run", "--cgroup-parent", parent}, args...)...)
		runCmd(t, cmd)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "confine-*")); len(left) != 0 {
		t.Errorf("cgroups left: %v", left)
	}
	for p := range mountPoints(t) {
		// Other packages' tests mount under /tmp/Test*... meanwhile; the
		// bpffs confine mounts once for the limiter stays, as systemd's.
		if !mounts[p] && !strings.HasPrefix(p, "/tmp/") && p != "/sys/fs/bpf" && !strings.HasPrefix(p, "/run/netns") {
			t.Errorf("new mount on the host: %s", p)
		}
	}
	if left := orphanPins(pins); len(left) > 0 {
		t.Errorf("pins of removed cgroups left: %v", left)
	}
}

// orphanPins returns the pin directories under /sys/fs/bpf/confine that
// are not in before and belong to no existing cgroup, once they stay so
// for a second: tests of other packages pin and unpin meanwhile, but only
// a leak keeps the pins of a cgroup that is gone.
func orphanPins(before []string) []string {
	var left []string
	for range 20 {
		live := map[string]bool{}
		_ = filepath.WalkDir(testutil.UnifiedMount(), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				var st unix.Stat_t
				if unix.Stat(p, &st) == nil {
					live[fmt.Sprintf("cg-%d", st.Ino)] = true
				}
			}
			return nil
		})
		now, _ := filepath.Glob("/sys/fs/bpf/confine/cg-*")
		left = left[:0]
		for _, p := range now {
			if !slices.Contains(before, p) && !live[filepath.Base(p)] {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return left
}

// mountPoints lists the mount points of the host's mount namespace.
func mountPoints(t *testing.T) map[string]bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			m[f[4]] = true
		}
	}
	return m
}
