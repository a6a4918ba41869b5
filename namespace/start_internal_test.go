package namespace

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

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
	err := status("RX\n"+`{"Step":"exec","Path":"/bin/x","Errno":2,"Msg":"execve /bin/x: no such file or directory"}`+"\n", nil)
	var se *SetupError
	if !errors.As(err, &se) || se.Path != "/bin/x" || !errors.Is(err, unix.ENOENT) || !se.NotFound() || ExitCodeFor(err) != 127 {
		t.Errorf("exec ENOENT = %#v", err)
	}
	// The init died in a step (OOM-killed, crashed): a failure of confine
	// naming the step, never the command's status.
	err = status("RSroot\nSchdir\n", &State{ExitCode: -1, Signal: unix.SIGKILL})
	var died *InitDiedError
	if !errors.As(err, &se) || se.Step != StepChdir || !errors.As(err, &died) || died.Signal != unix.SIGKILL || ExitCodeFor(err) != 125 {
		t.Errorf("init killed in chdir = %v", err)
	}
	err = status("", &State{ExitCode: -1, Signal: unix.SIGKILL})
	if !errors.As(err, &se) || se.Step != StepStart || !errors.As(err, &died) {
		t.Errorf("init killed before the handshake = %v", err)
	}
	err = status("RScredentials\n"+`{"Step":"credentials","Path":"/etc/passwd","File":{"Path":"/etc/passwd","Reason":"not a regular file"}}`+"\n", nil)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != "/etc/passwd" || !errors.As(err, &se) || se.Step != StepCredentials {
		t.Errorf("file error = %#v", err)
	}
}

func TestValidate(t *testing.T) {
	h := &Handle{kind: NET}
	for name, c := range map[string]*Cmd{
		"Path":                   {},
		"Namespaces":             {Path: "x", Namespaces: Set{NET, NET}},
		"Join":                   {Path: "x", Namespaces: Set{NET}, Join: []*Handle{h}},
		"Hostname":               {Path: "x", Hostname: "h"},
		"Root":                   {Path: "x", Root: nil, Domainname: "d"},
		"UIDMappings":            {Path: "x", Namespaces: Set{USER}, UIDMappings: []IDMap{{0, 0, 0}}},
		"CgroupPath":             {Path: "x", CgroupFD: 5, CgroupPath: "/sys/fs/cgroup/x"},
		"Rlimits":                {Path: "x", Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 10, Max: 5}}},
		"Capabilities.Effective": {Path: "x", Capabilities: &Capabilities{Effective: 1}},
		"OOMScoreAdj":            {Path: "x", OOMScoreAdj: new(-1001)},
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
