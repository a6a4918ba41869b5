package namespace_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

func init() { testutil.RegisterHelper("poolowner", helperPoolOwner) }

// only makes a PoolConfig.New for pools that keep nothing beside their
// inits.
func only(cmd func() *namespace.Cmd) func() (*namespace.Cmd, struct{}, error) {
	return func() (*namespace.Cmd, struct{}, error) { return cmd(), struct{}{}, nil }
}

// get is Get for such a pool, without a deadline.
func get(p *namespace.Pool[struct{}]) (*namespace.Cmd, error) {
	c, _, err := p.Get(context.Background())
	return c, err
}

// waitChildren waits until this process has n children and returns them.
func waitChildren(n int) ([]string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := childPIDs()
		if len(all) >= n {
			return all, nil
		}
		if time.Now().After(deadline) {
			return all, fmt.Errorf("%d children after 10s, want %d", len(all), n)
		}
		time.Sleep(5 * time.Millisecond) // no notification for "a child was forked"
	}
}

// helperPoolOwner fills a pool of two, prints the pids of its waiting
// inits and sleeps: it is meant to be killed.
func helperPoolOwner([]string) int {
	p, err := namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 2,
		New: only(func() *namespace.Cmd { return &namespace.Cmd{Namespaces: fiveNS} })})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer p.Close()
	kids, err := waitChildren(2)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("inits", strings.Join(kids, " "))
	time.Sleep(time.Hour)
	return 0
}

// A pooled init gets the caller's stdio at Start: the command reads the
// caller's stdin and writes to its stdout and stderr (pipes, not the
// init's /dev/null), and no fd of the caller, inherited by the init when
// it was forked or open when Start runs, reaches the command.
func TestPoolHandsOverStdio(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	leaky, err := unix.Open("/dev/null", unix.O_RDONLY, 0) // no O_CLOEXEC on purpose
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leaky)
	root := &mount.Root{Path: busyboxRoot(t), Readonly: true, Mounts: []mount.Mount{mount.Proc("/proc")}}
	p, err := namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 2,
		New: only(func() *namespace.Cmd { return &namespace.Cmd{Namespaces: fiveNS, Root: root} })})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 3 { // more than Size: refilled ones too
		c, err := get(p)
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		c.Path, c.Args, c.Env = "/bin/sh", sh("read x; echo in $x; echo oops >&2; ls -l /proc/self/fd/"), []string{}
		c.Stdin, c.Stdout, c.Stderr = strings.NewReader("hello"+strconv.Itoa(i)+"\n"), &out, &errb
		if st, err := c.Run(); err != nil || !st.Success() {
			t.Fatalf("run %d: state %+v, %v; stderr %q", i, st, err, errb.String())
		}
		// ls -l may complain about its own directory fd, gone by the time
		// it reads the link.
		if e, _ := strings.CutSuffix(errb.String(), "ls: /proc/self/fd/3: cannot read link: No such file or directory\n"); e != "oops\n" {
			t.Errorf("run %d: stderr %q, want oops", i, errb.String())
		}
		lines := strings.Split(out.String(), "\n")
		if lines[0] != "in hello"+strconv.Itoa(i) {
			t.Errorf("run %d: first line %q: stdin not handed over", i, lines[0])
		}
		fds := fdTargets(t, lines[1:])
		for fd := 0; fd < 3; fd++ {
			if !strings.HasPrefix(fds[fd], "pipe:") {
				t.Errorf("run %d: fd %d -> %q, want the caller's pipe", i, fd, fds[fd])
			}
		}
		for fd, target := range fds {
			if fd > 3 || (fd == 3 && !strings.HasSuffix(target, "/fd")) {
				t.Errorf("run %d: fd %d -> %s reached the command (leaky fd was %d)", i, fd, target, leaky)
			}
		}
	}
}

// fdTargets parses `ls -l /proc/self/fd/` lines.
func fdTargets(t *testing.T, lines []string) map[int]string {
	t.Helper()
	fds := map[int]string{}
	for _, line := range lines {
		before, target, ok := strings.Cut(line, " -> ")
		if !ok {
			continue
		}
		f := strings.Fields(before)
		fd, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			t.Fatalf("parsing %q", line)
		}
		fds[fd] = target
	}
	return fds
}

// Close kills and reaps every waiting init, calls Discard for each, and
// leaves no process, fd, goroutine or cgroup; Get then fails.
func TestPoolCloseLeavesNothing(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	parent := testutil.TempCgroup(t)
	var made, discarded atomic.Int32
	p, err := namespace.NewPool(namespace.PoolConfig[string]{Size: 3,
		New: func() (*namespace.Cmd, string, error) {
			cg, err := cgroup.New(filepath.Join(parent, "p"+strconv.Itoa(int(made.Add(1)))), cgroup.Resources{})
			if err != nil {
				return nil, "", err
			}
			path := cg.Path()
			cg.Close()
			return &namespace.Cmd{Namespaces: fiveNS, CgroupPath: path}, path, nil
		},
		Discard: func(_ *namespace.Cmd, path string) {
			discarded.Add(1)
			if err := os.Remove(path); err != nil {
				t.Errorf("removing %s: %v", path, err)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitChildren(3); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if kids := children(t); kids != "" {
		t.Errorf("inits left after Close: %s", kids)
	}
	if m, d := made.Load(), discarded.Load(); m != d || m < 3 {
		t.Errorf("made %d, discarded %d", m, d)
	}
	if ents, _ := os.ReadDir(parent); len(ents) > 0 {
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("cgroup %s left", e.Name())
			}
		}
	}
	if _, _, err := p.Get(context.Background()); !errors.Is(err, namespace.ErrPoolClosed) {
		t.Errorf("Get after Close: %v, want ErrPoolClosed", err)
	}
}

// New's errors and an invalid template come back from Get; an init killed
// while it waited is replaced, not handed out.
func TestPoolErrorsAndDeadInits(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	var ie *namespace.InvalidError
	if _, err := namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 0}); !errors.As(err, &ie) {
		t.Errorf("Size 0: %v", err)
	}
	boom := errors.New("boom")
	p, _ := namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 1, New: func() (*namespace.Cmd, struct{}, error) { return nil, struct{}{}, boom }})
	if _, err := get(p); !errors.Is(err, boom) {
		t.Errorf("Get: %v, want New's error", err)
	}
	p.Close()
	p, _ = namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 1, New: only(func() *namespace.Cmd {
		return &namespace.Cmd{Namespaces: fiveNS, Stdout: os.Stdout}
	})})
	if _, err := get(p); !errors.As(err, &ie) || ie.Field != "Stdout" {
		t.Errorf("Get with Stdout in the template: %v, want an InvalidError naming Stdout", err)
	}
	p.Close()

	// A hostname the kernel refuses fails the init's presetup, as Start
	// would.
	p, _ = namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 1, New: only(func() *namespace.Cmd {
		return &namespace.Cmd{Namespaces: fiveNS, Hostname: strings.Repeat("x", 100)}
	})})
	var se *namespace.StepError
	if _, err := get(p); !errors.As(err, &se) || se.Step != namespace.StepHostname || !errors.Is(err, unix.EINVAL) {
		t.Errorf("Get with a bad Hostname: %v, want a StepError of step %q matching EINVAL", err, namespace.StepHostname)
	}
	p.Close()
	if kids := children(t); kids != "" {
		t.Errorf("failed presetup left: %s", kids)
	}

	var discarded atomic.Int32
	p, _ = namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 1,
		New:     only(func() *namespace.Cmd { return &namespace.Cmd{Namespaces: fiveNS} }),
		Discard: func(*namespace.Cmd, struct{}) { discarded.Add(1) }})
	defer p.Close()
	kids, err := waitChildren(1)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(kids[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err == nil { // gone already is as good
		_, _ = unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 5000)
		unix.Close(pidfd)
	}
	// Killed while it waited (Get skips it) or while it built its root
	// (Get returns that error): either way it is not handed out.
	c, err := get(p)
	var ide *namespace.InitDiedError
	if errors.As(err, &ide) {
		c, err = get(p)
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.Pid() == pid {
		t.Fatalf("Get handed out the killed init %d", pid)
	}
	if discarded.Load() != 1 {
		t.Errorf("%d discarded, want the killed init", discarded.Load())
	}
	c.Path = "/bin/true"
	if st, err := c.Run(); err != nil || !st.Success() {
		t.Errorf("state %+v, %v", st, err)
	}
}

// A pool's owner killed with SIGKILL takes its waiting inits with it.
func TestPoolDiesWithOwner(t *testing.T) {
	testutil.RequireRoot(t)
	h := testutil.HelperCommand(t, "poolowner")
	out, err := h.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "inits ") {
		_ = h.Process.Kill()
		_ = h.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	var pidfds []int
	for _, s := range strings.Fields(line)[1:] {
		pid, _ := strconv.Atoi(s)
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd_open(%d): %v", pid, err)
		}
		defer unix.Close(fd)
		pidfds = append(pidfds, fd)
	}
	if err := h.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = h.Wait()
	for i, fd := range pidfds {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000)
		if err != nil || n != 1 {
			t.Errorf("waiting init %d still runs 5s after its owner was killed (%v)", i, err)
		}
	}
}

// What New set for the namespaces is built before Get: the command finds
// the hostname and the root, and Start refuses other ones.
func TestPoolBuildsRootAhead(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	root := &mount.Root{Path: busyboxRoot(t), Readonly: true, Mounts: []mount.Mount{mount.Proc("/proc")}}
	p, err := namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 1,
		New: only(func() *namespace.Cmd {
			return &namespace.Cmd{Namespaces: fiveNS, Root: root, Hostname: "pooled"}
		})})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := get(p)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Path, c.Args, c.Stdout, c.Dir = "/bin/sh", sh("hostname; pwd; ls /"), &out, "/etc"
	if st, err := c.Run(); err != nil || !st.Success() {
		t.Fatalf("state %+v, %v", st, err)
	}
	if !strings.HasPrefix(out.String(), "pooled\n/etc\n") || !strings.Contains(out.String(), "\nbin\n") {
		t.Errorf("output %q: want the hostname, Dir and the root set up ahead", out.String())
	}
	for _, change := range []struct {
		field string
		set   func(c *namespace.Cmd)
	}{
		{"Root", func(c *namespace.Cmd) { c.Root = &mount.Root{Path: "/"} }},
		{"Hostname", func(c *namespace.Cmd) { c.Hostname = "other" }},
		{"CgroupPath", func(c *namespace.Cmd) { c.CgroupPath = testutil.TempCgroup(t) }},
	} {
		c, err := get(p)
		if err != nil {
			t.Fatal(err)
		}
		c.Path = "/bin/true"
		change.set(c)
		var ie *namespace.InvalidError
		if err := c.Start(); !errors.As(err, &ie) || ie.Field != change.field {
			t.Errorf("Start after changing %s: %v, want an InvalidError naming it", change.field, err)
		}
	}
	// The refill's one waiting init is all that may be left.
	if kids := strings.Fields(children(t)); len(kids) > 1 {
		t.Errorf("refused Starts left inits: %v", kids)
	}
}

// Get from several goroutines at once, each command with its own output,
// while Close may come at any time.
func TestPoolConcurrentGet(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	p, err := namespace.NewPool(namespace.PoolConfig[struct{}]{Size: 2,
		New: only(func() *namespace.Cmd { return &namespace.Cmd{Namespaces: fiveNS} })})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 4)
	for i := range 4 {
		go func() {
			for j := range 3 {
				c, err := get(p)
				if err != nil {
					errc <- err
					return
				}
				var out bytes.Buffer
				want := strconv.Itoa(i) + "-" + strconv.Itoa(j)
				c.Path, c.Args, c.Stdout = "/bin/echo", []string{"echo", want}, &out
				if st, err := c.Run(); err != nil || !st.Success() || out.String() != want+"\n" {
					errc <- fmt.Errorf("state %+v, %v, output %q, want %q", st, err, out.String(), want)
					return
				}
			}
			errc <- nil
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	p.Close()
	if kids := children(t); kids != "" {
		t.Errorf("left after Close: %s", kids)
	}
}
