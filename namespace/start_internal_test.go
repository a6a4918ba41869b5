package namespace

import (
	"bytes"
	"errors"
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

func TestReadStatus(t *testing.T) {
	// The child exited (or ran main without the hook) before the handshake.
	if err := readStatus(bytes.NewReader(nil)); !errors.Is(err, ErrInitNotCalled) {
		t.Errorf("empty status = %v", err)
	}
	if err := readStatus(bytes.NewReader([]byte{readyByte})); err != nil {
		t.Errorf("exec'd = %v", err)
	}
	err := readStatus(bytes.NewReader([]byte(`R{"Step":"exec","Path":"/bin/x","Errno":2,"Msg":"execve /bin/x: no such file or directory"}`)))
	var se *SetupError
	if !errors.As(err, &se) || se.Path != "/bin/x" || !errors.Is(err, unix.ENOENT) || !se.NotFound() || ExitCodeFor(err) != 127 {
		t.Errorf("exec ENOENT = %#v", err)
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
