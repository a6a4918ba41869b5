package namespace_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// The fields set after Prestart take effect: the hostname, the root and
// the command are the ones Start saw, in the namespaces Prestart made.
func TestPrestartThenStart(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	var out bytes.Buffer
	c := &namespace.Cmd{Namespaces: append(namespace.Set{namespace.CGROUP}, fiveNS...), Stdout: &out,
		Pdeathsig: syscall.SIGKILL}
	if err := c.Prestart(); err != nil {
		t.Fatal(err)
	}
	c.Path, c.Args = "/bin/sh", sh("hostname; cat /proc/self/cgroup; ls /")
	c.Hostname = "late-name"
	c.Root = &mount.Root{Path: busyboxRoot(t), Readonly: true, Mounts: []mount.Mount{mount.Proc("/proc")}}
	dir := testutil.TempCgroup(t)
	c.CgroupPath = dir
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(); err != nil || !st.Success() {
		t.Fatalf("state %+v, %v", st, err)
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != "late-name" {
		t.Errorf("hostname %q, want the one set after Prestart", lines[0])
	}
	// The cgroup namespace is rooted where Start moved the init.
	if !strings.Contains(out.String(), "0::/\n") {
		t.Errorf("/proc/self/cgroup does not show the cgroup namespace's root:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "\nbin\n") {
		t.Errorf("ls / does not show the busybox root:\n%s", out.String())
	}
	if kids := children(t); kids != "" {
		t.Errorf("children left behind: %s", kids)
	}
}

// Without a cgroup namespace the command sees the cgroup Start moved the
// init into: the move happened before exec.
func TestPrestartMovesIntoCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	dir := testutil.TempCgroup(t)
	rel := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, testutil.UnifiedMount()), "/")
	var out bytes.Buffer
	c := &namespace.Cmd{Namespaces: fiveNS, Stdout: &out} // stdio: read by Prestart
	if err := c.Prestart(); err != nil {
		t.Fatal(err)
	}
	c.Path, c.Args, c.CgroupPath = "/bin/cat", []string{"cat", "/proc/self/cgroup"}, dir
	if st, err := c.Run(); err != nil || !st.Success() {
		t.Fatalf("state %+v, %v", st, err)
	}
	if !strings.Contains(out.String(), "0::"+rel+"\n") {
		t.Errorf("/proc/self/cgroup:\n%s\nwant 0::%s", out.String(), rel)
	}
}

// Start refuses what Prestart already used, if it changed, and reaps the
// init; giving up with Signal and Wait leaves nothing either.
func TestPrestartRefusedAndAbandoned(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	c := &namespace.Cmd{Namespaces: fiveNS}
	if err := c.Prestart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Prestart(); err == nil {
		t.Error("a second Prestart was accepted")
	}
	c.Path, c.Namespaces = "/bin/true", namespace.Set{namespace.PID}
	var ie *namespace.InvalidError
	if err := c.Start(); !errors.As(err, &ie) || ie.Field != "Namespaces" {
		t.Fatalf("Start with other namespaces: %v, want an InvalidError naming Namespaces", err)
	}
	if kids := children(t); kids != "" {
		t.Errorf("refused Start left the init: %s", kids)
	}
	if err := c.Start(); err == nil {
		t.Error("Start after a failed Start was accepted")
	}

	// Entering a running sandbox has nothing to start ahead.
	c = &namespace.Cmd{Path: "/bin/true", Sandbox: &namespace.Sandbox{}}
	if err := c.Prestart(); !errors.As(err, &ie) || ie.Field != "Sandbox" {
		t.Errorf("Prestart with a Sandbox: %v, want an InvalidError naming Sandbox", err)
	}
	if kids := children(t); kids != "" {
		t.Errorf("refused Prestart left a process: %s", kids)
	}

	c = &namespace.Cmd{Namespaces: fiveNS}
	if err := c.Prestart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(); err != nil || st.Signal != syscall.SIGKILL {
		t.Fatalf("abandoned init: state %+v, %v", st, err)
	}
	// Wait alone: the init sees its config pipe close and exits.
	c = &namespace.Cmd{Namespaces: fiveNS}
	if err := c.Prestart(); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(); err != nil || st.ExitCode != 125 {
		t.Fatalf("init waited for without Start: state %+v, %v; want exit 125", st, err)
	}
	if kids := children(t); kids != "" {
		t.Errorf("abandoned inits left: %s", kids)
	}
}

// Files are handed over as they are: the command writes into the caller's
// file, and a stdio field set before Prestart stays the init's.
func TestPrestartHandsOverFiles(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var errb bytes.Buffer
	c := &namespace.Cmd{Namespaces: fiveNS, Stderr: &errb}
	if err := c.Prestart(); err != nil {
		t.Fatal(err)
	}
	c.Path, c.Args, c.Stdout = "/bin/sh", sh("echo to-file; echo to-stderr >&2"), f
	if st, err := c.Run(); err != nil || !st.Success() {
		t.Fatalf("state %+v, %v", st, err)
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "to-file\n" {
		t.Errorf("file holds %q", b)
	}
	if errb.String() != "to-stderr\n" {
		t.Errorf("stderr %q", errb.String())
	}

	// A terminal is given at the fork: refused after Prestart.
	c = &namespace.Cmd{Namespaces: fiveNS}
	if err := c.Prestart(); err != nil {
		t.Fatal(err)
	}
	c.Path, c.TTY = "/bin/true", f
	var ie *namespace.InvalidError
	if err := c.Start(); !errors.As(err, &ie) || ie.Field != "TTY" {
		t.Errorf("TTY after Prestart: %v, want an InvalidError naming TTY", err)
	}
}
