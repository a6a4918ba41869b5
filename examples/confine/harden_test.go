package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

// Issue 11: each test performs an escape through `confine run` for real
// and checks the host afterwards.

func init() {
	testutil.RegisterHelper("attack-tty", helperAttackTTY)
	testutil.RegisterHelper("caller-session", helperCallerSession)
}

// helperAttackTTY runs inside the sandbox: TIOCSTI on stdin and a signal
// to its own process group.
func helperAttackTTY([]string) int {
	c := []byte{'#'}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafePtr(c)))
	signal.Ignore(unix.SIGUSR1)
	fmt.Printf("tiocsti=%d killpg=%v\n", int(e), unix.Kill(0, unix.SIGUSR1) == nil)
	return 0
}

// helperCallerSession is the user's shell: session leader with the pty
// slave (its stdin) as controlling terminal, running confine ARGS.
func helperCallerSession(args []string) int {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, unix.SIGUSR1)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	select {
	case <-usr1:
		fmt.Println("caller=signalled")
	default:
		fmt.Println("caller=untouched")
	}
	fmt.Println("confine:", err)
	return 0
}

// Route 1: the sandbox has its own session: no TIOCSTI into the caller's
// terminal, no signal to the caller's process group.
func TestRunOwnSessionNoTIOCSTI(t *testing.T) {
	bin := confineBinary(t)
	legacy, _ := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti")
	t.Logf("dev.tty.legacy_tiocsti=%s", strings.TrimSpace(string(legacy)))
	master, slave, err := namespace.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	exe, _ := os.Executable()
	// The test binary lives under /tmp, private in the sandbox: bind it in.
	dir := filepath.Dir(exe)
	caller := testutil.HelperCommand(t, "caller-session", bin, "run", "-v", dir+":"+dir+":ro",
		"-e", testutil.EnvHelper+"=attack-tty", "--", exe)
	caller.Stdin = slave
	caller.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	out, err := caller.Output()
	t.Logf("%s", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "caller=untouched") || !strings.Contains(string(out), "confine: <nil>") {
		t.Error("the sandbox signalled the caller's process group (or confine failed)")
	}
	if !strings.Contains(string(out), "tiocsti=") || strings.Contains(string(out), "tiocsti=0 ") {
		t.Error("TIOCSTI into the caller's terminal succeeded")
	}
	if n, err := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ); err != nil || n != 0 {
		t.Errorf("%d bytes injected into the caller's terminal (%v)", n, err)
	}
}

// Route 1: -t gives the command a terminal of its own.
func TestRunTTY(t *testing.T) {
	r := confine(t, "run", "-t", "sh", "-c", "test -t 0 && test -t 1 && echo isatty; tty; cat /proc/self/stat")
	if r.code != 0 || !strings.Contains(r.stdout, "isatty") {
		t.Fatalf("-t: exit %d %q", r.code, r.stdout)
	}
	// The terminal is the sandbox's own, from its private devpts.
	if !strings.Contains(r.stdout, "/dev/pts/0") {
		t.Errorf("tty inside: %q, want /dev/pts/0 of the sandbox's devpts", r.stdout)
	}
	f := strings.Fields(r.stdout[strings.LastIndexByte(r.stdout, ')')+1:])
	if f[4] == "0" || f[3] != "1" {
		t.Errorf("tty_nr %s session %s: want a controlling terminal and its own session", f[4], f[3])
	}
}

// Route 2: without --rootfs the host's root is read-only, /tmp and /run
// are private; only -v/--tmpfs targets are writable.
func TestRunHostRootReadOnly(t *testing.T) {
	bin := confineBinary(t)
	sock := filepath.Join("/run", "confine-test-"+strconv.Itoa(os.Getpid())+".sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hostTmp, err := os.CreateTemp("/tmp", "confine-hosttmp-")
	if err != nil {
		t.Fatal(err)
	}
	hostTmp.Close()
	defer os.Remove(hostTmp.Name())
	vol := t.TempDir()
	target := "/etc/confine-escape-" + strconv.Itoa(os.Getpid())
	r := runCmd(t, exec.Command(bin, "run", "-v", vol+":/mnt", "--", "sh", "-c",
		"touch "+target+"; echo etc=$?; test -S "+sock+"; echo sock=$?; test -e "+hostTmp.Name()+"; echo tmp=$?; "+
			"touch /tmp/x /run/x /var/tmp/x /mnt/x; echo writable=$?"))
	for _, want := range []string{"etc=1", "sock=1", "tmp=1", "writable=0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %s in %q", want, r.stdout)
		}
	}
	if _, err := os.Stat(target); err == nil {
		_ = os.Remove(target)
		t.Errorf("%s was created on the host", target)
	}
	if _, err := os.Stat(filepath.Join(vol, "x")); err != nil {
		t.Errorf("the -v write did not reach the volume: %v", err)
	}
}

// Route 4: with --network host /sys is read-only: the command cannot move
// itself out of its cgroup.
func TestRunSysReadOnlyHostNetwork(t *testing.T) {
	root := testutil.RequireUnified(t)
	r := confine(t, "run", "--network", "host", "--cgroupns", "host", "sh", "-c",
		"echo $$ > "+root+"/cgroup.procs; echo write=$?; grep ^0:: /proc/self/cgroup")
	if strings.Contains(r.stdout, "write=0") || !strings.Contains(r.stdout, "0::/confine/confine-") {
		t.Fatalf("cgroup.procs write from the sandbox: %q", r.stdout)
	}
}

// Route 6: a private cgroup namespace by default.
func TestRunCgroupns(t *testing.T) {
	if r := confine(t, "run", "cat", "/proc/self/cgroup"); !strings.Contains(r.stdout, "0::/\n") {
		t.Errorf("default: %q, want 0::/", r.stdout)
	}
	if r := confine(t, "run", "--cgroupns", "host", "cat", "/proc/self/cgroup"); !strings.Contains(r.stdout, "0::/confine/confine-") {
		t.Errorf("--cgroupns host: %q", r.stdout)
	}
	if r := confine(t, "run", "--cgroupns", "bogus", "true"); r.code != exitConfine || !strings.Contains(r.stderr, "--cgroupns") {
		t.Errorf("bad --cgroupns: %d %q", r.code, r.stderr)
	}
}

// Route 3: a rootfs symlink into /proc plus a volume cannot replace
// cap_last_cap: refused, naming the target; no capability leaks.
func TestRunVolumeIntoProcRefused(t *testing.T) {
	bin := confineBinary(t)
	root := testutil.BusyboxRoot(t, []string{"proc", "sys", "dev", "etc", "tmp"}, "sh", "grep", "cat")
	if err := os.Symlink("/proc/sys/kernel", filepath.Join(root, "data")); err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "cap_last_cap"), []byte("5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, exec.Command(bin, "run", "--rootfs", root, "-v", vol+":/data", "--", "grep", "CapBnd", "/proc/self/status"))
	if r.code != exitConfine || !strings.Contains(r.stderr, "/data") || !strings.Contains(r.stderr, "resolves into proc") {
		t.Fatalf("want exit 125 naming /data, got %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// Route 5: chmod/chown/utimes of /dev nodes, a --device and a masked file
// never change the host's nodes.
func TestRunDevNodesHostUnchanged(t *testing.T) {
	bin := confineBinary(t)
	nodes := []string{"/dev/null", "/dev/kmsg"}
	before := map[string]unix.Stat_t{}
	for _, n := range nodes {
		var st unix.Stat_t
		if err := unix.Stat(n, &st); err != nil {
			t.Fatal(err)
		}
		before[n] = st
		t.Cleanup(func() { testutil.RestoreNode(t, n, &st) })
	}
	script := `for f in /dev/null /dev/kmsg /proc/kcore; do
  chmod 1666 $f; echo "$f chmod $?"; chown 65534:65534 $f; echo "$f chown $?"; touch -d 2001-01-01 $f; echo "$f touch $?"
done; echo x > /dev/null && echo io=ok`
	r := runCmd(t, exec.Command(bin, "run", "--device", "/dev/kmsg:r", "--", "sh", "-c", script))
	for _, want := range []string{"io=ok", "/dev/kmsg chmod 1", "/proc/kcore chmod 1", "/proc/kcore chown 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %q in %q", want, r.stdout)
		}
	}
	for _, n := range nodes {
		var st unix.Stat_t
		if err := unix.Stat(n, &st); err != nil {
			t.Fatal(err)
		}
		b := before[n]
		if st.Mode != b.Mode || st.Uid != b.Uid || st.Gid != b.Gid || st.Mtim != b.Mtim {
			t.Errorf("host %s changed: mode %#o uid %d gid %d mtime %v (was %#o %d %d %v)", n, st.Mode, st.Uid, st.Gid, st.Mtim, b.Mode, b.Uid, b.Gid, b.Mtim)
		}
	}
}

// Route 7: /etc/passwd a symlink to /dev/zero with -u nobody: refused at
// once, exit 125 naming the file.
func TestRunHostilePasswd(t *testing.T) {
	bin := confineBinary(t)
	root := testutil.BusyboxRoot(t, []string{"proc", "sys", "dev", "etc", "tmp"}, "sh", "true")
	if err := os.Symlink("/dev/zero", filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, exec.Command(bin, "run", "--rootfs", root, "-u", "nobody", "--", "true"))
	if r.code != exitConfine || !strings.Contains(r.stderr, "/etc/passwd") || !strings.Contains(r.stderr, "not a regular file") {
		t.Fatalf("want 125 naming /etc/passwd, got %d %q", r.code, r.stderr)
	}
}

// Route 8: SIGKILL to confine takes the whole sandbox with it.
func TestRunDiesWithConfine(t *testing.T) {
	bin := confineBinary(t)
	parent, dir := runParent(t, "pdeath")
	cmd := exec.Command(bin, "run", "--cgroup-parent", parent, "--", "sh", "-c", "sleep 600 & echo started; sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "started\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("read %q", line)
	}
	cgs, _ := filepath.Glob(filepath.Join(dir, "confine-*"))
	if len(cgs) != 1 {
		_ = cmd.Process.Kill()
		t.Fatalf("run cgroups: %v", cgs)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// Everything in the run's cgroup must go; poll the kernel's
	// populated flag with a generous bound (no timing assertion).
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(cgs[0], "cgroup.events"))
		if strings.Contains(string(b), "populated 0") {
			break
		}
		if time.Now().After(deadline) {
			procs, _ := os.ReadFile(filepath.Join(cgs[0], "cgroup.procs"))
			t.Fatalf("the sandbox outlived confine: %s", procs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Route 9: oom_score_adj is set, not inherited; the hostname does not
// carry confine's PID; no-new-privileges=false is refused or honoured.
func TestRunSmallerDefaults(t *testing.T) {
	bin := confineBinary(t)
	cmd := exec.Command("sh", "-c", `echo 500 > /proc/self/oom_score_adj && exec "$@"`, "sh",
		bin, "run", "sh", "-c", "cat /proc/self/oom_score_adj; hostname")
	r := runCmd(t, cmd)
	lines := strings.Fields(r.stdout)
	if len(lines) != 2 || lines[0] != "0" {
		t.Errorf("oom_score_adj inherited: %q", r.stdout)
	}
	if len(lines) == 2 && !regexpHostname(lines[1]) {
		t.Errorf("hostname %q", lines[1])
	}
	if r := confine(t, "run", "--oom-score-adj", "300", "cat", "/proc/self/oom_score_adj"); strings.TrimSpace(r.stdout) != "300" {
		t.Errorf("--oom-score-adj 300: %q", r.stdout)
	}
	// By default the built-in filter comes with no_new_privs (the library
	// sets it for a filter and no CAP_SYS_ADMIN unless told otherwise).
	if r := confine(t, "run", "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"); !strings.Contains(r.stdout, "NoNewPrivs:\t1") || !strings.Contains(r.stdout, "Seccomp:\t2") {
		t.Errorf("default run: %q, want no_new_privs and a filter", r.stdout)
	}
	r = confine(t, "run", "--security-opt", "no-new-privileges=false", "true")
	if r.code != exitConfine || !strings.Contains(r.stderr, "no-new-privileges=false") {
		t.Errorf("no-new-privileges=false with the default seccomp: %d %q", r.code, r.stderr)
	}
	r = confine(t, "run", "--security-opt", "no-new-privileges=false", "--security-opt", "seccomp=unconfined", "grep", "NoNewPrivs", "/proc/self/status")
	if !strings.Contains(r.stdout, "NoNewPrivs:\t0") {
		t.Errorf("no-new-privileges=false, unconfined: %q", r.stdout)
	}
	if r := confine(t, "gc", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Usage: confine gc") {
		t.Errorf("gc --help: %d %q", r.code, r.stdout)
	}
}

func regexpHostname(s string) bool {
	h := strings.TrimPrefix(s, "confine-")
	_, err := strconv.ParseUint(h, 16, 64)
	return h != s && len(h) == 12 && err == nil
}

func unsafePtr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// Route 8: confine's stdio redirected to host files. Handed over as they
// are, a command with Docker's capabilities could chmod them through
// /proc/self/fd, setuid bit included: a host file of the sandbox's making
// that runs as root. confine copies them through pipes instead, as docker
// run does; the output keeps its order (2>&1 shares one pipe), the input
// reaches the command, and the host files keep their modes.
func TestRunRedirectedFilesNotChmodded(t *testing.T) {
	bin := confineBinary(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte("input line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inf, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer inf.Close()
	outf, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	script := `echo one; read x; echo "read $x" >&2
for fd in 0 1 2; do chmod 4755 /proc/self/fd/$fd; touch -d 2001-01-01 /proc/self/fd/$fd; done 2>/dev/null
echo two >&2; echo three`
	cmd := exec.Command(bin, "run", "--", "sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inf, outf, outf
	if err := cmd.Run(); err != nil {
		t.Fatalf("confine run: %v", err)
	}
	b, _ := os.ReadFile(out)
	if got, want := string(b), "one\nread input line\ntwo\nthree\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	for _, p := range []string{in, out} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o644 || fi.ModTime().Year() == 2001 {
			t.Errorf("host %s: mode %v, modified %v: the sandbox changed it", p, fi.Mode(), fi.ModTime())
		}
	}
}
