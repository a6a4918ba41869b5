package namespace_test

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// With a Console the command's terminal is made inside the sandbox, from
// its own devpts: `tty` names /dev/pts/0 there, the terminal is the
// controlling one, and its output reaches the master the caller received.
func TestConsoleIsTheSandboxsOwnTerminal(t *testing.T) {
	testutil.RequireRoot(t)
	root := testutil.BusyboxRoot(t, []string{"proc", "dev"}, "sh", "tty", "readlink", "cat")
	child, parent, err := namespace.ConsolePair()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	defer parent.Close()
	c := &namespace.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "tty; readlink /proc/self/fd/2; cat /proc/self/stat"},
		Namespaces: namespace.Set{namespace.MNT, namespace.PID},
		Root:       &mount.Root{Path: root, Mounts: []mount.Mount{mount.Proc("/proc"), mount.Dev("/dev")}},
		Console:    child}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	master, err := namespace.ReceiveConsole(parent)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	var lines []string
	sc := bufio.NewScanner(master)
	for len(lines) < 3 && sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("command: %+v, %v; output %q", st, err, lines)
	}
	if len(lines) < 3 || lines[0] != "/dev/pts/0" || lines[1] != "/dev/pts/0" {
		t.Fatalf("tty and stderr inside: %q, want /dev/pts/0 twice", lines)
	}
	// Field 7 of /proc/PID/stat is tty_nr: a controlling terminal is set
	// (136 is the pts major, minor 0 makes 34816).
	if f := strings.Fields(lines[2]); len(f) < 7 || f[6] != "34816" {
		t.Errorf("controlling terminal of the command: stat %q, want tty_nr 34816 (pts/0)", lines[2])
	}
}

// A Console excludes TTY and the three stdio fields.
func TestConsoleExclusive(t *testing.T) {
	child, parent, err := namespace.ConsolePair()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	defer parent.Close()
	var ie *namespace.InvalidError
	err = (&namespace.Cmd{Path: "/bin/true", Console: child, Stdout: os.Stdout}).Start()
	if !errors.As(err, &ie) || ie.Field != "Console" {
		t.Fatalf("Start with Console and Stdout = %v, want an *InvalidError for Console", err)
	}
}
