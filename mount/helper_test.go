package mount

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.RegisterHelper("mount-setup", helperSetup)
	testutil.RunHelperIfAsked()
	os.Exit(m.Run())
}

// request is what a test sends to the mount-setup helper on stdin.
type request struct {
	Root     Root
	HostDev  string   // overrides hostDevDir when set
	Canary   string   // a host path that must not be reachable afterwards
	Exec     []string // a command to run in the new root, output reported
	Walk     bool     // use the fallback resolver, as on kernels without openat2
	PreTmpfs []string // host dirs to mount a tmpfs on (in the child) before Setup
	Writes   []string // paths to try to create after Setup ("write P" facts)
	Statfs   []string // paths whose filesystem magic to report ("statfs P")
	Stat     []string // paths whose node, mode and owner to report ("stat P")
	Sources  []string // mount points whose mount table source to report ("source P", topmost mount)
	Props    []string // mount points whose propagation fields to report ("prop P", topmost mount)
	// PropProbe: rbind / at /probe-copy, then mount a tmpfs at
	// /probe-new and report whether the copy shows it ("probe": exposed,
	// hidden, or the bind's errno).
	PropProbe bool
	Order     []string // mount points to report sorted by mount ID ("order")
}

// report is what the helper prints on stdout (JSON).
type report struct {
	Err, ErrStep, ErrPath string
	Errno                 string // errno name found in the error chain
	DeviceErr, ConfigErr  bool
	TargetErr             string   // the Target of a *TargetError
	Outside               []string // mounts made outside the root (must be empty)
	Facts                 map[string]string
	Mountpoints           []string
}

func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

func mountpoints() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			out = append(out, f[4])
		}
	}
	return out
}

// mountTable maps each mount point to the source field of its topmost
// mount in /proc/self/mountinfo ("ID PARENT M:m ROOT POINT OPTS
// [OPTIONAL...] - fstype source options") and to its optional fields
// ("shared:N master:M", "unbindable", "" when private).
func mountTable() (source, prop map[string]string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	source, prop = map[string]string{}, map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) > 5 && len(g) > 1 {
			source[f[4]] = g[1]
			prop[f[4]] = strings.Join(f[6:], " ")
		}
	}
	return source, prop
}

// byMountID returns the mount points, each at its topmost mount's ID,
// sorted by that ID (the order they were made in), space-separated.
func byMountID(points []string) string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	id := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && slices.Contains(points, f[4]) {
			n, _ := strconv.Atoi(f[0])
			id[f[4]] = max(id[f[4]], n)
		}
	}
	sorted := slices.Clone(points)
	slices.SortFunc(sorted, func(a, b string) int { return id[a] - id[b] })
	return strings.Join(sorted, " ")
}

// propProbe does what a sandbox sharing mounts does: copy the root with
// an rbind, mount something new, and look for it through the copy.
func propProbe() string {
	for _, d := range []string{"/probe-copy", "/probe-new"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return errnoName(err)
		}
	}
	if err := unix.Mount("/", "/probe-copy", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return "bind " + errnoName(err)
	}
	if err := unix.Mount("probe", "/probe-new", "tmpfs", 0, ""); err != nil {
		return "tmpfs " + errnoName(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/probe-copy/probe-new", &st); err != nil {
		return errnoName(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		return "exposed"
	}
	return "hidden"
}

// helperSetup runs Root.Setup in the throwaway mount (and PID) namespace
// the test created, then reports what the process can see and do.
func helperSetup([]string) int {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	noOpenat2.Store(req.Walk)
	if req.HostDev != "" {
		hostDevDir = req.HostDev
	}
	rep := report{Facts: map[string]string{}}
	if len(req.PreTmpfs) > 0 {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		for _, p := range req.PreTmpfs {
			if err := unix.Mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
	}
	before := map[string]bool{}
	for _, p := range mountpoints() {
		before[p] = true
	}
	beforePivot = func() error {
		for _, p := range mountpoints() {
			if !before[p] && req.Root.Path != "" && p != req.Root.Path &&
				!strings.HasPrefix(p, req.Root.Path+"/") {
				rep.Outside = append(rep.Outside, p)
			}
		}
		return nil
	}
	fdsBefore := countFDs()
	if err := req.Root.Setup(); err != nil {
		rep.Err = err.Error()
		rep.Errno = errnoName(err)
		var se *StepError
		if errors.As(err, &se) {
			rep.ErrStep, rep.ErrPath = se.Step, se.Path
		}
		var de *DeviceError
		rep.DeviceErr = errors.As(err, &de)
		var ce *InvalidError
		rep.ConfigErr = errors.As(err, &ce)
		var te *TargetError
		if errors.As(err, &te) {
			rep.TargetErr = te.Target
		}
	} else {
		rep.Facts["fds leaked"] = strconv.Itoa(countFDs() - fdsBefore)
		collectFacts(&req, rep.Facts)
		rep.Mountpoints = mountpoints()
	}
	json.NewEncoder(os.Stdout).Encode(&rep)
	return 0
}

// countFDs counts open fds; after a pivot it needs the new root's /proc.
func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1000
	}
	return len(ents)
}

func tryWrite(p string) string {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	}
	return errnoName(err)
}

func collectFacts(req *request, f map[string]string) {
	wd, _ := os.Getwd()
	f["cwd"] = wd
	f["write /probe"] = tryWrite("/probe")
	f["write /tmp/probe"] = tryWrite("/tmp/probe")
	f["write /proc/sys/kernel/domainname"] = tryWrite("/proc/sys/kernel/domainname")
	for _, p := range []string{"/proc/keys", "/proc/timer_list", "/proc/interrupts"} {
		b, err := os.ReadFile(p)
		f["read "+p] = fmt.Sprintf("%s %d", errnoName(err), len(b))
	}
	ents, err := os.ReadDir("/sys/firmware")
	f["ls /sys/firmware"] = fmt.Sprintf("%s %d", errnoName(err), len(ents))
	var sfs unix.Statfs_t
	if unix.Statfs("/proc", &sfs) == nil {
		f["/proc magic"] = fmt.Sprintf("%#x", sfs.Type)
	}
	var st unix.Stat_t
	if err := unix.Stat("/dev/null", &st); err == nil {
		f["/dev/null"] = describe(&st)
	}
	f["write /dev/null"] = tryWrite("/dev/null")
	if lnk, err := os.Readlink("/dev/ptmx"); err == nil {
		f["/dev/ptmx"] = lnk
	}
	f["write /dev/shm/x"] = tryWrite("/dev/shm/x")
	for _, p := range req.Writes {
		f["write "+p] = tryWrite(p)
	}
	for _, p := range req.Statfs {
		var sfs unix.Statfs_t
		err := unix.Statfs(p, &sfs)
		f["statfs "+p] = fmt.Sprintf("%s %#x", errnoName(err), sfs.Type)
	}
	for _, p := range req.Stat {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			f["stat "+p] = errnoName(err)
		} else {
			f["stat "+p] = fmt.Sprintf("%s %#o %d:%d", describe(&st), st.Mode&0o7777, st.Uid, st.Gid)
		}
	}
	if len(req.Sources)+len(req.Props) > 0 {
		src, prop := mountTable()
		for _, p := range req.Sources {
			f["source "+p] = src[p]
		}
		for _, p := range req.Props {
			f["prop "+p] = prop[p]
		}
	}
	if req.PropProbe {
		f["probe"] = propProbe()
	}
	if len(req.Order) > 0 {
		f["order"] = byMountID(req.Order)
	}
	if req.Canary != "" {
		_, err := os.Stat(req.Canary)
		f["stat canary"] = errnoName(err)
	}
	if len(req.Exec) > 0 {
		var out bytes.Buffer
		cmd := exec.Command(req.Exec[0], req.Exec[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		f["exec"] = fmt.Sprintf("%v: %s", err, strings.TrimSpace(out.String()))
	}
}

// runSetup runs req in a child in new mount and PID namespaces and returns
// its report. It fails the test if the host's mount table changed under
// the paths Setup works on, or if a mount was made outside the root.
func runSetup(t *testing.T, req request) report {
	t.Helper()
	watched := []string{"/proc", "/dev", "/sys/firmware", "/sys/devices/virtual/powercap"}
	if req.Root.Path != "" {
		watched = append(watched, filepath.Dir(req.Root.Path))
	}
	if req.Canary != "" {
		watched = append(watched, req.Canary)
	}
	before := hostMounts(t, watched)
	cmd := helperCommand(t, "mount-setup")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID}
	in, _ := json.Marshal(&req)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	var rep report
	if err := json.NewDecoder(io.LimitReader(&out, 1<<20)).Decode(&rep); err != nil {
		t.Fatalf("helper output: %v", err)
	}
	if len(rep.Outside) > 0 {
		t.Errorf("SECURITY: mounts created outside the root: %q", rep.Outside)
	}
	if after := hostMounts(t, watched); after != before {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	return rep
}

// helperCommand is testutil.HelperCommand without the race detector's
// default one-second sleep at exit (GORACE atexit_sleep_ms) in the child.
func helperCommand(t testing.TB, name string, args ...string) *exec.Cmd {
	cmd := testutil.HelperCommand(t, name, args...)
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return cmd
}

// hostMounts returns the host's mount table lines whose mount point is at
// or below one of prefixes (other engineers' tests may mount elsewhere).
func hostMounts(t *testing.T, prefixes []string) string {
	t.Helper()
	var sel []string
	for _, p := range prefixes {
		infos, err := MountsUnder(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range infos {
			sel = append(sel, fmt.Sprintf("%d %s %s %s", i.ID, i.Mountpoint, i.FSType, i.Options))
		}
	}
	return strings.Join(sel, "\n")
}

// busyboxRoot builds a minimal rootfs in a temp dir: /bin/busybox, /bin/sh
// and a few directories (tmp is left out on purpose: Setup must create it).
func busyboxRoot(t *testing.T) string {
	t.Helper()
	return testutil.BusyboxRoot(t, []string{"proc", "sys", "dev", "etc"}, "sh")
}

// standardRoot is what confine run --rootfs --read-only --tmpfs /tmp
// sets up.
func standardRoot(path string) Root {
	r := DefaultRoot(path, true)
	r.Mounts = append(r.Mounts, Tmpfs("/tmp", 16<<20, 0o1777, NoSuid|NoDev))
	return r
}
