package namespace_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// The hardening routes of harden_test.go, taken from inside a sandbox that
// came from a Pool: each test performs the attack in a pooled sandbox
// configured as a user would (and as BenchmarkSpawnPooledVsBwrap does)
// and checks the host afterwards.

func init() {
	testutil.RegisterHelper("poolttycaller", helperPoolTTYCaller)
	testutil.RegisterHelper("poolattacktty", helperPoolAttackTTY)
}

// hardPool is a Pool of sandboxes of confine run's shape: new CGROUP, PID,
// NET, IPC, MNT and UTS namespaces, a root built ahead, and a cgroup of
// its own per init with Docker's device allowlist, made in New and born
// in.
type hardPool struct {
	*namespace.Pool[*cgroup.Cgroup]
}

// newHardPool fills a pool of size inits with root r, their cgroups made
// below parent. It needs no *testing.T: a helper process makes one too.
func newHardPool(size int, parent string, r *mount.Root, hostname string) (*hardPool, error) {
	n := 0
	p, err := namespace.NewPool(namespace.PoolConfig[*cgroup.Cgroup]{Size: size,
		New: func() (*namespace.Cmd, *cgroup.Cgroup, error) {
			n++ // never concurrent with itself
			cg, err := cgroup.New(filepath.Join(parent, "p"+strconv.Itoa(n)), cgroup.Resources{Devices: cgroup.DefaultDevices()})
			if err != nil {
				return nil, nil, err
			}
			return &namespace.Cmd{Namespaces: append(namespace.Set{namespace.CGROUP}, fiveNS...),
				CgroupFD: cg.FD(), Root: r, Hostname: hostname}, cg, nil
		},
		Discard: func(_ *namespace.Cmd, cg *cgroup.Cgroup) { _ = cg.Delete() }})
	return &hardPool{p}, err
}

// take is Get with the init's cgroup, the caller's to delete after Wait.
func (hp *hardPool) take() (*namespace.Cmd, *cgroup.Cgroup, error) {
	return hp.Get(context.Background())
}

// hardenedPool is newHardPool for a test: closed, and its cgroups
// removed, when the test ends.
func hardenedPool(t *testing.T, size int, r *mount.Root, hostname string) *hardPool {
	t.Helper()
	testutil.RequireRoot(t)
	parent := testutil.TempCgroup(t)
	hp, err := newHardPool(size, parent, r, hostname)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Close() })
	return hp
}

// get takes a sandbox for the test: its command runs /bin/sh in it
// (PATH=/bin). What is left of it is killed, reaped and its cgroup
// deleted when the test ends.
func (hp *hardPool) get(t *testing.T) (*namespace.Cmd, *cgroup.Cgroup) {
	t.Helper()
	c, cg, err := hp.take()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Signal(syscall.SIGKILL)
		_, _ = c.Wait()
		if err := cg.Delete(); err != nil {
			t.Errorf("deleting %s: %v", cg.Path(), err)
		}
	})
	c.Path, c.Env = "/bin/sh", []string{"PATH=/bin"}
	return c, cg
}

// defaultRoot is mount.DefaultRoot over a fresh busybox root, read-only:
// /proc, a read-only /sys, a minimal /dev, masked and read-only paths.
func defaultRoot(t *testing.T, extra ...mount.Mount) *mount.Root {
	r := mount.DefaultRoot(busyboxRoot(t), true)
	r.Mounts = append(r.Mounts, extra...)
	return &r
}

// refusal finds the "W PATH STATUS MESSAGE" line the shell function w
// (see writeProbe) printed for path and fails the test when the write
// succeeded, or failed for another reason than the kernel refusing it
// (EROFS, EACCES, EPERM), or was not tried.
func refusal(t *testing.T, out, path string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.SplitN(l, " ", 4)
		if len(f) < 3 || f[0] != "W" || f[1] != path {
			continue
		}
		msg := ""
		if len(f) == 4 {
			msg = f[3]
		}
		if f[2] == "0" {
			t.Errorf("write to %s from the sandbox succeeded", path)
			return
		}
		for _, ok := range []string{"Read-only file system", "Permission denied", "Operation not permitted"} {
			if strings.Contains(msg, ok) {
				return
			}
		}
		t.Errorf("write to %s failed with %q, want EROFS, EACCES or EPERM", path, msg)
		return
	}
	t.Errorf("no write attempt on %s in:\n%s", path, out)
}

// writeProbe defines w PATH VALUE: write VALUE to PATH and print
// "W PATH STATUS MESSAGE" (the shell's error message names the errno).
const writeProbe = `w() { e=$( (printf '%s' "$2" > "$1") 2>&1 ); echo "W $1 $? $e"; }
`

// hostValue reads a host file and, when the test ends, writes it back
// should the sandbox have changed it (on code without the hardening): the
// selected word of "a [b] c" files, the content of others.
func hostValue(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	restore := strings.TrimSpace(string(b))
	if _, sel, ok := strings.Cut(restore, "["); ok {
		restore, _, _ = strings.Cut(sel, "]")
	}
	t.Cleanup(func() {
		if now, _ := os.ReadFile(p); string(now) != string(b) {
			_ = os.WriteFile(p, []byte(restore), 0)
			t.Logf("restored the host's %s", p)
		}
	})
	return string(b)
}

// Writes to the kernel's global knobs through /proc and /sys are refused
// in a pooled sandbox (Docker's capabilities: root, no CAP_SYS_ADMIN) and
// the host's values stay; the sandbox's hostname is its UTS namespace's
// alone, even with every capability.
func TestPoolHardenProcSysWrites(t *testing.T) {
	checkLeaks(t)
	hp := hardenedPool(t, 2, defaultRoot(t), "pooled")
	const thp = "/sys/kernel/mm/transparent_hugepage/enabled"
	hostHostname, _ := os.Hostname()
	core := hostValue(t, "/proc/sys/kernel/core_pattern")
	var thpBefore string
	if _, err := os.Stat(thp); err == nil {
		thpBefore = hostValue(t, thp)
	}
	// Each knob the host has, with a value it does not hold; a write that
	// went through would show on the host.
	script := writeProbe
	var targets []string
	for _, k := range [][2]string{{"/proc/sysrq-trigger", "h"}, {"/proc/sys/kernel/core_pattern", "core.confine-pwned"},
		{"/proc/sys/kernel/hostname", "confine-pwned"}, {"/proc/sys/vm/drop_caches", "1"}, {thp, "never"},
		{"/sys/kernel/uevent_helper", "/confine-pwned"}} {
		if _, err := os.Stat(k[0]); err != nil {
			t.Logf("%s: not on this host", k[0])
			continue
		}
		targets = append(targets, k[0])
		script += "w " + k[0] + " " + k[1] + "\n"
	}
	c, _ := hp.get(t)
	c.Args, c.Capabilities = sh(script+`busybox hostname confine-pwned; echo sethostname $?
echo hostname $(busybox hostname)`), dockerCaps
	out := run(t, c)
	for _, p := range targets {
		refusal(t, out, p)
	}
	if f := fields(out); f["sethostname"] == "0" || f["hostname"] != "pooled" {
		t.Errorf("without CAP_SYS_ADMIN: sethostname %s, hostname %q, want refused and the pool's", f["sethostname"], f["hostname"])
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); string(now) != core {
		t.Errorf("host core_pattern %q, was %q", now, core)
	}
	if thpBefore != "" {
		if now, _ := os.ReadFile(thp); string(now) != thpBefore {
			t.Errorf("host %s %q, was %q", thp, now, thpBefore)
		}
	}

	// With every capability the command may rename its UTS namespace:
	// never the host's, nor the one of the next sandbox.
	c, _ = hp.get(t)
	c.Args = sh(writeProbe + `w /proc/sys/kernel/hostname confine-pwned
busybox hostname confine-pwned; echo sethostname $?; echo hostname $(busybox hostname)`)
	out = run(t, c)
	refusal(t, out, "/proc/sys/kernel/hostname")
	if f := fields(out); f["sethostname"] != "0" || f["hostname"] != "confine-pwned" {
		t.Errorf("with every capability: sethostname %s, hostname %q: want the sandbox's own renamed", f["sethostname"], f["hostname"])
	}
	if h, _ := os.Hostname(); h != hostHostname {
		t.Errorf("host hostname %q, was %q", h, hostHostname)
	}
	c, _ = hp.get(t)
	c.Args = sh("busybox hostname")
	if out := run(t, c); out != "pooled\n" {
		t.Errorf("the next pooled sandbox's hostname %q, want pooled", out)
	}
}

// hostRootDisk returns the major and minor number of the host's block
// device holding /, and whether this process can open that device (some
// hosts refuse even root, which leaves nothing for the sandbox's device
// filter to prove).
func hostRootDisk(t *testing.T) (maj, mnr uint32, opens bool) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		var d unix.Stat_t
		p := "/dev/" + e.Name()
		if unix.Lstat(p, &d) != nil || d.Mode&unix.S_IFMT != unix.S_IFBLK || d.Rdev != st.Dev {
			continue
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			opens = true
		} else {
			t.Logf("this process cannot open %s (%v): the disk check proves nothing here", p, err)
		}
		break
	}
	return unix.Major(st.Dev), unix.Minor(st.Dev), opens
}

// The /dev of a pooled sandbox holds fresh nodes, not the host's inodes;
// the device filter of its cgroup refuses a disk of the host and a char
// device it does not list even where mknod is allowed (Docker's
// capabilities have CAP_MKNOD and its allowlist allows mknod of any
// device), and without CAP_MKNOD mknod itself is refused.
func TestPoolHardenDevices(t *testing.T) {
	checkLeaks(t)
	hp := hardenedPool(t, 2, defaultRoot(t), "")
	var hostDev unix.Stat_t
	if err := unix.Stat("/dev/null", &hostDev); err != nil {
		t.Fatal(err)
	}
	maj, mnr, diskOpens := hostRootDisk(t)
	// /dev/kmsg (1:11) opens for writing without any capability: only the
	// filter refuses it. /dev/null (1:3) is allowed: a node made there
	// works, so the refusals are the filter's, not the mount's.
	script := fmt.Sprintf(`for f in /dev/*; do test -e "$f" && echo "N $(busybox stat -c '%%n %%d %%i %%F %%t:%%T' $f)"; done
busybox mknod /dev/disk b %d %d; echo mknod-disk $?
busybox dd if=/dev/disk of=/dev/null bs=512 count=1 2>&1 | grep -q 'Operation not permitted'; echo open-disk $?
busybox mknod /dev/kmsg2 c 1 11; echo mknod-kmsg $?
e=$( (echo x > /dev/kmsg2) 2>&1 ); echo "open-kmsg $? $e"
busybox mknod /dev/null2 c 1 3; echo mknod-null $?
echo x > /dev/null2; echo open-null $?
busybox mknod /disk b %d %d; echo mknod-root $?`, maj, mnr, maj, mnr)
	c, _ := hp.get(t)
	c.Args, c.Capabilities = sh(script), dockerCaps
	out := run(t, c)
	f := fields(out)
	want := map[string]string{"mknod-disk": "0", "open-disk": "0", "mknod-kmsg": "0", "mknod-null": "0", "open-null": "0", "mknod-root": "1"}
	if !diskOpens {
		delete(want, "open-disk")
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	if !strings.HasPrefix(f["open-kmsg"], "1 ") || !strings.Contains(f["open-kmsg"], "Operation not permitted") {
		t.Errorf("opening a /dev/kmsg node: %q, want EPERM from the device filter", f["open-kmsg"])
	}
	nodes := 0
	for _, l := range strings.Split(out, "\n") {
		n := strings.Fields(strings.TrimPrefix(l, "N "))
		if !strings.HasPrefix(l, "N ") || len(n) < 4 {
			continue
		}
		if !strings.Contains(l, "special file") {
			continue
		}
		nodes++
		if n[1] == strconv.FormatUint(hostDev.Dev, 10) {
			t.Errorf("%s is an inode of the host's /dev (st_dev %s)", n[0], n[1])
		}
		if strings.Contains(l, "block special") && n[0] != "/dev/disk" {
			t.Errorf("block device %s in the sandbox's /dev", l)
		}
	}
	if nodes < 6 {
		t.Errorf("%d device nodes in the sandbox's /dev, want null, zero, full, random, urandom, tty at least:\n%s", nodes, out)
	}

	noMknod := *dockerCaps
	for _, s := range []*namespace.CapSet{&noMknod.Bounding, &noMknod.Effective, &noMknod.Permitted, &noMknod.Inheritable, &noMknod.Ambient} {
		*s &^= namespace.NewCapSet(27) // CAP_MKNOD
	}
	c, _ = hp.get(t)
	c.Args, c.Capabilities = sh(fmt.Sprintf(`e=$(busybox mknod /dev/disk b %d %d 2>&1); echo "mknod $? $e"
e=$(busybox mknod /dev/null2 c 1 3 2>&1); echo "mknodc $? $e"`, maj, mnr)), &noMknod
	f = fields(run(t, c))
	for _, k := range []string{"mknod", "mknodc"} {
		if !strings.HasPrefix(f[k], "1 ") || !strings.Contains(f[k], "Operation not permitted") {
			t.Errorf("%s without CAP_MKNOD: %q, want EPERM", k, f[k])
		}
	}
}

// exeRoot is mount.DefaultRoot over busybox root path with the host's
// /usr (and /lib, /lib64 when they are directories) and the directory of
// this test binary bound read-only, so that the binary runs in it. The
// test made /lib and /lib64 symlinks in the root where the host has them
// (see prepareExeRoot).
func exeRoot(path string) (mount.Root, error) {
	exe, err := os.Executable()
	if err != nil {
		return mount.Root{}, err
	}
	r := mount.DefaultRoot(path, true)
	r.Mounts = append(r.Mounts, mount.Bind("/usr", "/usr", mount.ReadOnly), mount.Bind(filepath.Dir(exe), filepath.Dir(exe), mount.ReadOnly))
	for _, d := range []string{"/lib", "/lib64"} {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			r.Mounts = append(r.Mounts, mount.Bind(d, d, mount.ReadOnly))
		}
	}
	return r, nil
}

// prepareExeRoot makes a busybox root for exeRoot.
func prepareExeRoot(t *testing.T) string {
	root := busyboxRoot(t)
	for _, d := range []string{"lib", "lib64"} {
		if target, err := os.Readlink("/" + d); err == nil {
			if err := os.Symlink(target, filepath.Join(root, d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// helperPoolAttackTTY runs in the pooled sandbox with the caller's
// terminal as stdin: it tries to make the terminal its own, pushes a byte
// into its input, signals its own process group and the caller's (args[0]),
// prints what it saw, then waits for SIGUSR2 so that the caller can look
// at it from the host.
func helperPoolAttackTTY(args []string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGUSR2)
	signal.Ignore(unix.SIGUSR1) // PID 1 of a namespace: be explicit
	_, _, ctty := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0)
	b := byte('#')
	_, _, sti := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafePointer(&b)))
	pgid, _ := strconv.Atoi(args[0])
	fmt.Printf("tiocsctty %d\ntiocsti %d\nkill0 %v\nkillpg %v\n", int(ctty), int(sti),
		unix.Kill(0, unix.SIGUSR1) == nil, unix.Kill(-pgid, unix.SIGUSR1) == nil)
	stat, _ := os.ReadFile("/proc/self/stat")
	fmt.Printf("stat %s", stat)
	fmt.Println("ready")
	select {
	case <-stop:
	case <-time.After(time.Minute):
	}
	return 0
}

// helperPoolTTYCaller plays the user's shell, a session leader whose
// controlling terminal is its stdin, with a pool of its own (root args[0],
// cgroups below args[1]) whose inits were forked ahead by the refill
// goroutine: it hands its terminal over as the pooled command's stdin at
// Start, with Docker's capabilities, and reports the command's session
// and process group as the host sees them.
func helperPoolTTYCaller(args []string) int {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, unix.SIGUSR1)
	r, err := exeRoot(args[0])
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	hp, err := newHardPool(2, args[1], &r, "")
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer hp.Close()
	c, cg, err := hp.take()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer cg.Delete()
	if err := attackFromPool(c); err != nil {
		fmt.Println("error", err)
		return 1
	}
	select {
	case <-usr1:
		fmt.Println("caller signalled")
	default:
		fmt.Println("caller untouched")
	}
	return 0
}

// attackFromPool runs helperPoolAttackTTY as c's command (see
// helperPoolTTYCaller) and prints its output and the host's view of it.
func attackFromPool(c *namespace.Cmd) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	c.Path, c.Args = exe, []string{exe, strconv.Itoa(unix.Getpgrp())}
	c.Env = []string{testutil.EnvHelper + "=poolattacktty", "GORACE=atexit_sleep_ms=0"}
	c.Stdin, c.Stdout, c.Stderr, c.Capabilities = os.Stdin, pw, os.Stderr, dockerCaps
	err = c.Start()
	pw.Close()
	if err != nil {
		return err
	}
	defer c.Wait()
	defer c.Signal(unix.SIGKILL) // no-op once it exited
	sc := bufio.NewScanner(pr)
	for sc.Scan() && sc.Text() != "ready" {
		fmt.Println(sc.Text())
	}
	sid, _ := unix.Getsid(c.Pid())
	pgid, _ := unix.Getpgid(c.Pid())
	mySid, _ := unix.Getsid(0)
	fmt.Printf("sid %d %d\npgid %d %d\n", sid, mySid, pgid, unix.Getpgrp())
	if err := c.Signal(unix.SIGUSR2); err != nil {
		return err
	}
	if st, err := c.Wait(); err != nil || !st.Success() {
		return fmt.Errorf("attacker: state %+v, %v", st, err)
	}
	return nil
}

// A pooled init is forked ahead by the refill goroutine, in the caller's
// session and process group at the time: the command that gets the
// caller's terminal at Start (handed over) is still in a session of its
// own, with no controlling terminal, cannot take the terminal, inject
// input into it (TIOCSTI) or signal the caller's process group.
func TestPoolHardenTerminalAndSession(t *testing.T) {
	testutil.RequireRoot(t)
	if !testutil.LegacyTIOCSTI() {
		t.Log("dev.tty.legacy_tiocsti=0 here: TIOCSTI fails for everyone, the session checks are what this test proves")
	}
	root := prepareExeRoot(t)
	parent := testutil.TempCgroup(t)
	master, slave, err := namespace.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	caller := testutil.HelperCommand(t, "poolttycaller", root, parent)
	caller.Stdin = slave
	caller.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	out, err := caller.Output()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("caller: %v", err)
	}
	f := fields(string(out))
	if f["caller"] != "untouched" || f["kill0"] != "true" || f["killpg"] != "false" {
		t.Errorf("kill(0) %s, kill(-caller's pgid) %s, caller %s: want only the sandbox's own group reached",
			f["kill0"], f["killpg"], f["caller"])
	}
	if f["tiocsctty"] == "0" {
		t.Error("the command made the caller's terminal its controlling terminal")
	}
	if f["tiocsti"] == "" || f["tiocsti"] == "0" {
		t.Errorf("TIOCSTI on the caller's terminal: %q, want it refused", f["tiocsti"])
	}
	if n, err := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ); err != nil || n != 0 {
		t.Errorf("the caller's terminal has %d injected input bytes (%v)", n, err)
	}
	// From the host: a session and a process group other than the
	// caller's; from inside: PID 1 leads its session, without a terminal.
	for _, k := range []string{"sid", "pgid"} {
		if v := strings.Fields(f[k]); len(v) != 2 || v[0] == v[1] || v[0] == "0" {
			t.Errorf("command's %s vs the caller's: %v, want its own", k, v)
		}
	}
	if st := f["stat"]; st == "" {
		t.Error("no /proc/self/stat from the command")
	} else if sf := statFields(t, st); sf[3] != "1" || sf[4] != "0" {
		t.Errorf("inside: session %s tty_nr %s, want 1 and no terminal", sf[3], sf[4])
	}
}

// fdTargetsOf maps each fd of process pid (host /proc) to its target.
func fdTargetsOf(pid string) map[string]bool {
	m := map[string]bool{}
	ents, _ := os.ReadDir("/proc/" + pid + "/fd")
	for _, e := range ents {
		if target, err := os.Readlink("/proc/" + pid + "/fd/" + e.Name()); err == nil {
			m[target] = true
		}
	}
	return m
}

// A pooled command sees no fd of its caller, of the pool (the config
// sockets and status pipes of the inits still waiting) or of the other
// waiting inits; it cannot see the waiting inits in /proc, signal them,
// or kill them with kill(-1): they are handed out afterwards and run.
func TestPoolHardenFDsAndSiblings(t *testing.T) {
	checkLeaks(t)
	leaky, err := unix.Open("/dev/zero", unix.O_RDONLY, 0) // no O_CLOEXEC on purpose
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leaky)
	hp := hardenedPool(t, 2, defaultRoot(t), "")
	c, _ := hp.get(t)
	kids, err := waitChildren(3) // c's init and the two the refill made since
	if err != nil {
		t.Fatal(err)
	}
	var siblings []string
	forbidden := fdTargetsOf("self") // the caller's and the pool's: the handover pipes come later
	for _, k := range kids {
		if k == strconv.Itoa(c.Pid()) {
			continue
		}
		siblings = append(siblings, k)
		for target := range fdTargetsOf(k) {
			forbidden[target] = true
		}
	}
	delete(forbidden, "/dev/null") // the fd the waiting inits got as stdio is no kernel object of the caller's
	var pidfds []int
	for _, s := range siblings {
		pid, _ := strconv.Atoi(s)
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd_open(%d): %v", pid, err)
		}
		defer unix.Close(fd)
		pidfds = append(pidfds, fd)
	}
	script := `ls -l /proc/self/fd/
echo procs $(ls /proc | grep '^[0-9]' | tr '\n' ' ')
for p in ` + strings.Join(siblings, " ") + `; do
  test -e /proc/$p && echo seen $p
  busybox kill -0 $p 2>/dev/null && echo signalled $p
done
busybox kill -9 -1; echo killed-all`
	c.Args, c.Capabilities, c.Stdin = sh(script), dockerCaps, strings.NewReader("")
	out := run(t, c)
	fds := fdTargets(t, strings.Split(out, "\n"))
	for fd, target := range fds {
		switch {
		case forbidden[target]:
			t.Errorf("fd %d -> %s: a file of the caller or of another pooled init", fd, target)
		case fd > 3 || (fd == 3 && !strings.HasSuffix(target, "/fd")):
			t.Errorf("fd %d -> %s reached the command", fd, target)
		}
	}
	if strings.Contains(out, "seen ") || strings.Contains(out, "signalled ") || !strings.Contains(out, "killed-all") {
		t.Errorf("the command reached the waiting inits %v:\n%s", siblings, out)
	}
	for _, p := range strings.Fields(fields(out)["procs"]) {
		if n, _ := strconv.Atoi(p); n > 10 {
			t.Errorf("pid %s in the sandbox's /proc: not of its PID namespace", p)
		}
	}
	for i, fd := range pidfds {
		if n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0); n != 0 {
			t.Errorf("waiting init %s died while the sandbox next to it ran", siblings[i])
		}
	}
	// The next two Gets hand the waiting inits out, unharmed.
	for range siblings {
		c, _ := hp.get(t)
		if !slices.Contains(siblings, strconv.Itoa(c.Pid())) {
			t.Errorf("Get handed out %d, want one of the waiting inits %v", c.Pid(), siblings)
		}
		c.Args = sh("true")
		run(t, c)
	}
}

// The command's capability sets, no_new_privs and seccomp mode are what
// the caller of Get set at Start, not the init's: the init holds every
// capability while it waits. Two commands of the same pool with opposite
// settings each get their own.
func TestPoolHardenCapabilities(t *testing.T) {
	checkLeaks(t)
	hp := hardenedPool(t, 2, defaultRoot(t), "")
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	mine := statusFields(string(self))
	docker := fmt.Sprintf("%016x", uint64(dockerCaps.Effective))
	const script = `cat /proc/self/status; busybox mkdir /dev/made; echo mkdir $?`
	for _, tc := range []struct {
		name string
		set  func(c *namespace.Cmd)
		want map[string]string
	}{
		{"docker-seccomp-nnp", func(c *namespace.Cmd) {
			c.Capabilities, c.Seccomp, c.NoNewPrivileges = dockerCaps, denyMkdir(), true
		}, map[string]string{"CapEff": docker, "CapPrm": docker, "CapBnd": docker, "CapInh": docker, "CapAmb": docker,
			"NoNewPrivs": "1", "Seccomp": "2", "mkdir": "1"}},
		{"default", func(*namespace.Cmd) {},
			map[string]string{"CapEff": mine["CapEff"], "CapBnd": mine["CapBnd"], "CapAmb": "0000000000000000",
				"NoNewPrivs": "0", "Seccomp": "0", "mkdir": "0"}},
		{"uid1000-docker", func(c *namespace.Cmd) {
			c.Capabilities, c.Credential = dockerCaps, &namespace.Credential{UID: 1000, GID: 1000}
		}, map[string]string{"Uid": "1000\t1000\t1000\t1000", "CapEff": docker, "CapBnd": docker, "CapAmb": docker,
			"NoNewPrivs": "0", "Seccomp": "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := hp.get(t)
			c.Args = sh(script)
			tc.set(c)
			out := run(t, c)
			st, f := statusFields(out), fields(out)
			st["mkdir"] = f["mkdir"]
			for k, v := range tc.want {
				if st[k] != v {
					t.Errorf("%s = %q, want %q", k, st[k], v)
				}
			}
		})
	}
}

// The pooled command's cgroup namespace is rooted at its own cgroup
// (its init unshared it there, ahead): with cgroup2 mounted read-write
// inside, writing its pid to the root's cgroup.procs leaves it in its
// cgroup, as the host sees it.
func TestPoolHardenCgroup(t *testing.T) {
	checkLeaks(t)
	unified := testutil.RequireUnified(t)
	hp := hardenedPool(t, 2, defaultRoot(t, mount.Cgroup2("/sys/fs/cgroup", false)), "")
	c, cg := hp.get(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	c.Args = sh(`echo before $(grep '^0::' /proc/self/cgroup)
echo $$ > /sys/fs/cgroup/cgroup.procs
busybox mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null; echo remount $?
echo after $(grep '^0::' /proc/self/cgroup)
echo attacked
exec busybox sleep 600`)
	c.Capabilities, c.Stdout, c.Stderr = dockerCaps, pw, pw
	err = c.Start()
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() && sc.Text() != "attacked" {
		out.WriteString(sc.Text() + "\n")
	}
	host, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Signal(unix.SIGKILL)
	_, _ = c.Wait()
	t.Logf("inside:\n%s", out.String())
	f := fields(out.String())
	if f["before"] != "0::/" || f["after"] != "0::/" {
		t.Errorf("inside: %q before the attack, %q after, want 0::/", f["before"], f["after"])
	}
	if f["remount"] == "0" {
		t.Error("mounting cgroup2 anew without CAP_SYS_ADMIN succeeded")
	}
	want := "0::" + strings.TrimPrefix(cg.Path(), unified) + "\n"
	if !strings.Contains("\n"+string(host), "\n"+want) {
		t.Errorf("the host sees the command in\n%s\nwant %s", host, want)
	}
}

// The stdio a command gets for nil Stdin, Stdout or Stderr is /dev/null,
// opened by the caller on the host: through /proc/self/fd the command
// reaches that inode even where its root has no host /dev. A pooled
// init is forked with it for all three, and keeps those the caller of
// Get does not set. Its metadata must not change from inside (here with
// Docker's CAP_FOWNER); reads and writes still work.
func TestPoolHardenNilStdioNotHostDevNull(t *testing.T) {
	// The read-only reopening needs mount_setattr; before, devices pass as
	// exec.Cmd passes them (see Cmd.Stdin).
	testutil.RequireKernel(t, "5.12")
	checkLeaks(t)
	var before unix.Stat_t
	if err := unix.Stat("/dev/null", &before); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.RestoreNode(t, "/dev/null", &before) })
	r := defaultRoot(t)
	hp := hardenedPool(t, 1, r, "")
	// Copies of stdin and stderr as fds 3 and 4: the probes' own stderr
	// goes to the sandbox's /dev/null.
	const script = `exec 3<&0 4>&2
for fd in 3 4; do
  busybox touch -c -d 2001-01-01 /proc/self/fd/$fd 2>/dev/null; echo touch$fd $?
  busybox chmod 0666 /proc/self/fd/$fd 2>/dev/null; echo chmod$fd $?
done
echo x >&2 && echo write ok; echo read $(cat | wc -c)`
	for _, pooled := range []bool{true, false} {
		c := &namespace.Cmd{Namespaces: fiveNS, Root: r, Path: "/bin/sh", Env: []string{"PATH=/bin"}}
		if pooled {
			c, _ = hp.get(t)
		}
		c.Args, c.Capabilities = sh(script), dockerCaps
		var out strings.Builder
		c.Stdout = &out
		if st, err := c.Run(); err != nil || !st.Success() {
			t.Fatalf("pooled %v: state %+v, %v", pooled, st, err)
		}
		want := map[string]string{"touch3": "1", "chmod3": "1", "touch4": "1", "chmod4": "1", "write": "ok", "read": "0"}
		f := fields(out.String())
		for k, v := range want {
			if f[k] != v {
				t.Errorf("pooled %v: %s = %q, want %q", pooled, k, f[k], v)
			}
		}
		checkHostNode(t, "/dev/null", &before)
	}
}

// checkHostNode fails the test if the host's node p lost the mode, owner
// or times it had in before.
func checkHostNode(t *testing.T, p string, before *unix.Stat_t) {
	t.Helper()
	var now unix.Stat_t
	if err := unix.Stat(p, &now); err != nil {
		t.Fatal(err)
	}
	if now.Mode != before.Mode || now.Uid != before.Uid || now.Gid != before.Gid || now.Mtim != before.Mtim {
		t.Errorf("host %s changed: mode %#o uid %d gid %d mtime %v, was %#o %d %d %v", p,
			now.Mode, now.Uid, now.Gid, now.Mtim, before.Mode, before.Uid, before.Gid, before.Mtim)
	}
}

// What shaped a pooled init (its cgroup, the namespaces it joined, its
// OOM score) was fixed when the pool forked it: a caller of Get who sets
// them anew would get a command less confined than asked (in the
// caller's NET namespace, in another cgroup than the one named). Start
// refuses, naming the field, and leaves no init behind.
func TestPoolHardenRefusesLateShape(t *testing.T) {
	checkLeaks(t)
	other := testutil.TempCgroup(t)
	net, err := namespace.New(namespace.NET)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	hp := hardenedPool(t, 1, defaultRoot(t), "")
	// No NET namespace of its own: the init is in the caller's.
	born := testutil.TempCgroup(t)
	noNet, err := namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 1, New: only(func() *namespace.Cmd {
		return &namespace.Cmd{Namespaces: namespace.Set{namespace.PID, namespace.MNT}, CgroupPath: born}
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer noNet.Close()
	adj := 500
	fromNoNet := func() *namespace.Cmd {
		c, err := get(noNet)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		field string
		pool  func() *namespace.Cmd
		set   func(c *namespace.Cmd)
	}{
		{"Join", fromNoNet,
			func(c *namespace.Cmd) { c.Join = []*namespace.Handle{net} }},
		{"CgroupPath", fromNoNet,
			func(c *namespace.Cmd) { c.CgroupPath = other }},
		{"CgroupFD", func() *namespace.Cmd { c, _ := hp.get(t); return c },
			func(c *namespace.Cmd) { c.CgroupFD = 0 }},
		{"OOMScoreAdj", func() *namespace.Cmd { c, _ := hp.get(t); return c },
			func(c *namespace.Cmd) { c.OOMScoreAdj = &adj }},
	} {
		c := tc.pool()
		pid := c.Pid()
		c.Path, c.Args = "/bin/sh", sh("readlink /proc/self/ns/net; grep 0:: /proc/self/cgroup")
		tc.set(c)
		var out strings.Builder
		c.Stdout = &out
		var ie *namespace.InvalidError
		if err := c.Start(); !errors.As(err, &ie) || ie.Field != tc.field {
			if err == nil {
				_, _ = c.Wait()
			}
			t.Errorf("Start after setting %s: %v, want an InvalidError naming it; the command ran as:\n%s", tc.field, err, out.String())
			continue
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("the refused init %d is still there (%v)", pid, err)
		}
	}
}

// A device the caller hands over as stdio (its terminal, here a pty's
// slave on the host's devpts) reaches the command reopened through a
// read-only mount: the command reads and writes it, but cannot change the
// host node's mode or times through /proc/self/fd (a terminal left
// writable by everyone is one other users can type into). Unpooled, and
// pooled (the terminal handed over at Start).
func TestPoolHardenCallerTerminalNode(t *testing.T) {
	// The read-only reopening needs mount_setattr; before, devices pass as
	// exec.Cmd passes them (see Cmd.Stdin).
	testutil.RequireKernel(t, "5.12")
	checkLeaks(t)
	r := defaultRoot(t)
	hp := hardenedPool(t, 1, r, "")
	const script = `for fd in 0 1; do
  busybox touch -c -d 2001-01-01 /proc/self/fd/$fd 2>/dev/null; echo touch$fd $? >&2
  busybox chmod 0666 /proc/self/fd/$fd 2>/dev/null; echo chmod$fd $? >&2
done
echo hello; test -t 0 && echo tty0 >&2; test -t 1 && echo tty1 >&2`
	for _, pooled := range []bool{true, false} {
		master, slave, err := namespace.OpenPTY()
		if err != nil {
			t.Fatal(err)
		}
		var before unix.Stat_t
		if err := unix.Fstat(int(slave.Fd()), &before); err != nil {
			t.Fatal(err)
		}
		c := &namespace.Cmd{Namespaces: fiveNS, Root: r, Path: "/bin/sh", Env: []string{"PATH=/bin"}}
		if pooled {
			c, _ = hp.get(t)
		}
		var errb strings.Builder
		c.Args, c.Capabilities = sh(script), dockerCaps
		c.Stdin, c.Stdout, c.Stderr = slave, slave, &errb
		st, err := c.Run()
		var now unix.Stat_t
		if err := unix.Fstat(int(slave.Fd()), &now); err != nil {
			t.Fatal(err)
		}
		slave.Close() // the node goes with the last fd of the pty
		if now.Mode != before.Mode || now.Mtim != before.Mtim {
			t.Errorf("pooled %v: the host's pty node changed: mode %#o mtime %v, was %#o %v", pooled, now.Mode, now.Mtim, before.Mode, before.Mtim)
		}
		if err != nil || !st.Success() {
			master.Close()
			t.Fatalf("pooled %v: state %+v, %v; %s", pooled, st, err, errb.String())
		}
		buf := make([]byte, 64)
		n, _ := master.Read(buf)
		master.Close()
		want := map[string]string{"touch0": "1", "chmod0": "1", "touch1": "1", "chmod1": "1"}
		f := fields(errb.String())
		for k, v := range want {
			if f[k] != v {
				t.Errorf("pooled %v: %s = %q, want %q (refused)", pooled, k, f[k], v)
			}
		}
		if _, ok := f["tty0"]; !ok || !strings.Contains(errb.String(), "tty1") || !strings.Contains(string(buf[:n]), "hello") {
			t.Errorf("pooled %v: the command's terminal: %q, read %q; want a terminal both ways", pooled, errb.String(), buf[:n])
		}
	}
}
