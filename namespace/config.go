package namespace

import (
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/mount"
)

// initConfig is what the parent sends the re-executed init over an
// inherited socket, encoded by encodeConfig (configwire.go).
type initConfig struct {
	Path            string
	Args            []string
	Env             []string
	Dir             string
	Flags           uintptr // CLONE_NEW* flags of the namespaces created
	Hostname        string
	Domainname      string
	Sysctl          map[string]string
	Root            *mount.Root
	Credential      *Credential
	Capabilities    *Capabilities
	NoNewPrivileges bool
	AllowNewPrivs   bool // Cmd.AllowNewPrivileges
	Rlimits         []Rlimit
	Seccomp         []unix.SockFilter
	FirstFreeFD     int // 3 + len(ExtraFiles): fds from here on are closed at exec
	Pdeathsig       int
	JoinMount       bool // a MNT namespace fd follows the status pipe
	GateFD          int  // the Gate's listening socket, or 0
	ConsoleFD       int  // the Console socket, or 0
	Stdio           int  // bit i: fd i is handed over with the config (see handover.go)
	Enter           *enterConfig

	holdAdmin     bool // set by the init: see holdAdmin
	initPdeathsig int  // set by the init: its own parent-death signal (see Cmd.initPdeathsig)
}
