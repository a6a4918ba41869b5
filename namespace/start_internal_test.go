package namespace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/confinelab/confine/mount"
	"golang.org/x/sys/unix"
)

func TestStartWithoutInit(t *testing.T) {
	initCalled.Store(false)
	defer initCalled.Store(true)
	if err := (&Cmd{Path: "/bin/true"}).Start(); !errors.Is(err, ErrInitNotCalled) {
		t.Errorf("Start without Init = %v, want ErrInitNotCalled", err)
	}
}

// status reads a status pipe's content and turns it into Start's result
// for an init that ended with st.
func status(b string, st *State) error {
	rep, err := readStatus(bytes.NewReader([]byte(b)))
	if err != nil {
		return err
	}
	return rep.err(st)
}

func TestReadStatus(t *testing.T) {
	// The child exited (or ran main without the hook) before the handshake.
	if err := status("", &State{ExitCode: 0}); !errors.Is(err, ErrInitNotCalled) {
		t.Errorf("empty status = %v", err)
	}
	if err := status("RSroot\nSchdir\nX\n", nil); err != nil {
		t.Errorf("exec'd = %v", err)
	}
	err := status("RX\n"+wireLine(t, StepExec, &fs.PathError{Op: "execve", Path: "/bin/x", Err: unix.ENOENT}), nil)
	var se *StepError
	if !errors.As(err, &se) || se.Path != "/bin/x" || se.Step != StepExec || !errors.Is(err, unix.ENOENT) {
		t.Errorf("exec ENOENT = %#v", err)
	}
	// The init died in a step (OOM-killed, crashed): a failure of confine
	// naming the step, never the command's status.
	err = status("RSroot\nSchdir\n", &State{ExitCode: -1, Signal: unix.SIGKILL})
	var died *InitDiedError
	if !errors.As(err, &se) || se.Step != StepChdir || !errors.As(err, &died) || died.Signal != unix.SIGKILL {
		t.Errorf("init killed in chdir = %v", err)
	}
	err = status("", &State{ExitCode: -1, Signal: unix.SIGKILL})
	if !errors.As(err, &se) || se.Step != StepStart || !errors.As(err, &died) {
		t.Errorf("init killed before the handshake = %v", err)
	}
	err = status("RScredentials\n"+wireLine(t, StepCredentials, &FileError{Path: "/etc/passwd", Reason: "not a regular file"}), nil)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != "/etc/passwd" || !errors.As(err, &se) || se.Step != StepCredentials {
		t.Errorf("file error = %#v", err)
	}
}

// wireLine is the status record the init writes when step fails with err.
func wireLine(t *testing.T, step string, err error) string {
	t.Helper()
	b, jerr := json.Marshal(toWire(step, err))
	if jerr != nil {
		t.Fatal(jerr)
	}
	return string(b) + "\n"
}

// An error crosses the status pipe with its identity: a mount step's
// *StepError (its package, step and path), the *UnsupportedError it wraps
// (feature and minimum kernel), the errno, and wrappers of types the codec
// does not know (their message), all as errors.Is and errors.As see them
// in the init (issue 14, item 3).
func TestErrorsCrossTheStatusPipe(t *testing.T) {
	sent := fmt.Errorf("building the root: %w", &mount.StepError{Pkg: "mount", Step: "mount_setattr", Path: "/srv/root",
		Err: &UnsupportedError{Feature: "mount_setattr", MinKernel: "5.12", Err: unix.ENOSYS}})
	err := status("RSroot\n"+wireLine(t, StepMount, sent), nil)
	var ns, ms *StepError
	if !errors.As(err, &ns) || ns.Pkg != "namespace" || ns.Step != StepMount || ns.Path != "/srv/root" {
		t.Fatalf("outer: %#v, want the namespace step %q naming /srv/root", err, StepMount)
	}
	if !errors.As(ns.Err, &ms) || ms.Pkg != "mount" || ms.Step != "mount_setattr" || ms.Path != "/srv/root" {
		t.Errorf("inner: %v, want the mount package's *StepError", ns.Err)
	}
	var ue *UnsupportedError
	if !errors.Is(err, ErrNotSupported) || !errors.As(err, &ue) || ue.MinKernel != "5.12" || !errors.Is(err, unix.ENOSYS) {
		t.Errorf("%v: want ErrNotSupported from 5.12, errno ENOSYS", err)
	}
	if got, want := ns.Err.Error(), sent.Error(); got != want {
		t.Errorf("message %q, want the init's %q", got, want)
	}
	// Device and target refusals, and the unknown-user sentinel, too.
	for _, sent := range []error{
		&mount.StepError{Pkg: "mount", Step: "bind", Path: "/dev/null", Err: &mount.DeviceError{Path: "/dev/null", Want: "char 1:3", Got: "symlink"}},
		&mount.StepError{Pkg: "mount", Step: "bind", Path: "/data", Err: &mount.TargetError{Target: "/data", Filesystem: "proc"}},
		fmt.Errorf("user nobody: %w", ErrUnknownUser),
	} {
		err := status("RSroot\n"+wireLine(t, StepMount, sent), nil)
		var de *mount.DeviceError
		var te *mount.TargetError
		ok := errors.As(err, &de) && *de == *sent.(*mount.StepError).Err.(*mount.DeviceError) ||
			errors.As(err, &te) && *te == *sent.(*mount.StepError).Err.(*mount.TargetError) ||
			errors.Is(err, ErrUnknownUser)
		if !ok || !strings.HasSuffix(err.Error(), sent.Error()) {
			t.Errorf("%v arrived as %v", sent, err)
		}
	}
}

func TestValidate(t *testing.T) {
	h := &Handle{kind: NET}
	for name, c := range map[string]*Cmd{
		"Path":                   {},
		"Namespaces":             {Path: "x", Namespaces: Set{NET, NET}},
		"Join":                   {Path: "x", Namespaces: Set{NET}, Join: []*Handle{h}},
		"Hostname":               {Path: "x", Hostname: "h"},
		"Domainname":             {Path: "x", Domainname: "d", Join: []*Handle{h}}, // a joined NET is no UTS
		"Root":                   {Path: "x", Root: nil, Domainname: "d"},
		"UIDMappings":            {Path: "x", Namespaces: Set{USER}, UIDMappings: []IDMap{{0, 0, 0}}},
		"CgroupPath":             {Path: "x", CgroupFD: 5, CgroupPath: "/sys/fs/cgroup/x"},
		"Rlimits":                {Path: "x", Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 10, Max: 5}}},
		"Capabilities.Effective": {Path: "x", Capabilities: &Capabilities{Effective: 1}},
		"OOMScoreAdj":            {Path: "x", OOMScoreAdj: new(-1001)},
		"AllowNewPrivileges":     {Path: "x", NoNewPrivileges: true, AllowNewPrivileges: true},
		"Stdin":                  {Path: "x", TTY: os.Stdin, Stdin: strings.NewReader("")},
	} {
		var ie *InvalidError
		if err := c.validate(); !errors.As(err, &ie) {
			t.Errorf("%s: validate = %v, want *InvalidError", name, err)
		}
	}
	if err := (&Cmd{Path: "x", Join: []*Handle{{kind: USER}}}).validate(); !errors.Is(err, ErrMultithreadedUserns) {
		t.Errorf("join USER = %v", err)
	}
}
