package namespace_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
)

// denyMkdir is a hand-assembled filter: kill on a foreign architecture,
// EPERM for mkdir and mkdirat, allow the rest.
func denyMkdir() *seccomp.Program { return deny(unix.SYS_MKDIR, unix.SYS_MKDIRAT) }

// deny is a hand-assembled filter: kill on a foreign architecture, EPERM
// for the syscalls nrs, allow the rest.
func deny(nrs ...uint32) *seccomp.Program {
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
	)
	f := []unix.SockFilter{
		{Code: ldAbs, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
		{Code: ret, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: ldAbs, K: 0}, // seccomp_data.nr
	}
	for i, nr := range nrs {
		f = append(f, unix.SockFilter{Code: jeq, Jt: uint8(len(nrs) - i), K: nr})
	}
	return seccomp.NewProgram(append(f,
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}))
}

func TestSeccompLoadedLast(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name    string
		cred    *namespace.Credential
		wantNNP string
	}{
		{"root keeps CAP_SYS_ADMIN, no no_new_privs needed", nil, "0"},
		{"uid 1000 requires no_new_privs", &namespace.Credential{UID: 1000, GID: 1000}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			unix.Chmod(dir, 0o777)
			c := &namespace.Cmd{Path: "/bin/sh", Credential: tc.cred, Seccomp: denyMkdir(),
				// The init's own setup (a private mount namespace) still ran;
				// the filter binds the command.
				Namespaces: namespace.Set{namespace.MNT},
				Args: sh("mkdir " + dir + "/x 2>/dev/null && echo mkdir ok || echo mkdir denied; " +
					"grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t' | tr ':' ' '")}
			out := fields(run(t, c))
			if out["Seccomp"] != "2" || out["NoNewPrivs"] != tc.wantNNP {
				t.Errorf("got %v, want Seccomp 2, NoNewPrivs %s", out, tc.wantNNP)
			}
			// As root only the filter can refuse the mkdir.
			if tc.cred == nil && out["mkdir"] != "denied" {
				t.Errorf("mkdir as root: %s, want denied by the filter", out["mkdir"])
			}
		})
	}
}

// TestSeccompWithoutNoNewPrivs: with explicit capabilities lacking
// CAP_SYS_ADMIN, a filter sets no_new_privs unless AllowNewPrivileges;
// with it the filter is loaded without (the init holds CAP_SYS_ADMIN until
// then), and the command has neither no_new_privs nor CAP_SYS_ADMIN in any
// set. A filter that denies the capset doing the drop fails the start
// instead of leaving the command with CAP_SYS_ADMIN.
func TestSeccompWithoutNoNewPrivs(t *testing.T) {
	testutil.RequireRoot(t)
	chown, kill := namespace.Cap(0), namespace.Cap(5) // CAP_CHOWN, CAP_KILL
	caps := namespace.OnlyCaps(chown, kill)
	for _, tc := range []struct {
		name    string
		cred    *namespace.Credential
		allow   bool
		wantNNP string
	}{
		{"uid 0, default", nil, false, "1"},
		{"uid 0, allowed", nil, true, "0"},
		{"uid 1000, allowed", &namespace.Credential{UID: 1000, GID: 1000}, true, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &namespace.Cmd{Path: "/bin/sh", Credential: tc.cred, Capabilities: caps, Seccomp: denyMkdir(),
				AllowNewPrivileges: tc.allow, Namespaces: namespace.Set{namespace.MNT},
				Args: sh("mkdir /proc/x 2>/dev/null; echo mkdir $?; " +
					"grep -E '^(Seccomp|NoNewPrivs|Cap...):' /proc/self/status | tr -d '\\t' | tr ':' ' '")}
			out := fields(run(t, c))
			if out["Seccomp"] != "2" || out["NoNewPrivs"] != tc.wantNNP {
				t.Errorf("got %v, want Seccomp 2, NoNewPrivs %s", out, tc.wantNNP)
			}
			want := fmt.Sprintf("%016x", uint64(namespace.NewCapSet(chown, kill)))
			for _, set := range []string{"CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"} {
				if out[set] != want {
					t.Errorf("%s %s, want %s (chown and kill only)", set, out[set], want)
				}
			}
		})
	}
	c := &namespace.Cmd{Path: "/bin/true", Capabilities: caps, Seccomp: deny(unix.SYS_CAPSET),
		AllowNewPrivileges: true, Namespaces: namespace.Set{namespace.MNT}}
	st, err := c.Run()
	var se *namespace.StepError
	if !errors.As(err, &se) || se.Step != namespace.StepSeccomp || !errors.Is(err, unix.EPERM) {
		t.Fatalf("filter denying capset: status %+v, err %v; want a seccomp StepError with EPERM", st, err)
	}
}

// The init itself creates a missing mount point (mkdirat) while the filter
// that denies mkdirat waits to be loaded right before exec.
func TestSeccompAfterRootSetup(t *testing.T) {
	testutil.RequireRoot(t)
	root := busyboxRoot(t)
	if err := os.Remove(filepath.Join(root, "tmp")); err != nil {
		t.Fatal(err)
	}
	c := &namespace.Cmd{Path: "/bin/sh", Seccomp: denyMkdir(), Namespaces: fiveNS,
		Args: sh("mkdir /tmp/x 2>/dev/null && echo mkdir ok || echo mkdir denied; touch /tmp/y && echo touch ok"),
		Root: &mount.Root{Path: root, Readonly: true, Mounts: []mount.Mount{mount.Tmpfs("/tmp", 1<<20, 0o1777, 0)}}}
	out := fields(run(t, c))
	if out["mkdir"] != "denied" || out["touch"] != "ok" {
		t.Errorf("got %v, want mkdir denied and touch ok", out)
	}
}

// Docker's default profile, compiled by package seccomp, lets the init's
// last steps (runtime syscalls, prlimit64, execve) through and binds the
// command.
func TestSeccompDefaultProfile(t *testing.T) {
	testutil.RequireRoot(t)
	prog, _, err := seccomp.CompileProfile(seccomp.Default(), seccomp.Target{Caps: seccomp.DefaultCaps})
	if err != nil {
		t.Fatal(err)
	}
	caps := seccomp.DefaultCaps // a namespace.CapSet too
	cmd := func(prog *seccomp.Program) *namespace.Cmd {
		return &namespace.Cmd{Path: "/bin/sh", Seccomp: prog, Namespaces: fiveNS, NoNewPrivileges: true,
			Capabilities: namespace.OnlyCaps(caps.List()...),
			// unshare(CLONE_NEWUSER) is refused without CAP_SYS_ADMIN by the profile.
			Args: sh("echo started yes; unshare -U true 2>/dev/null && echo unshare ok || echo unshare denied; " +
				"grep -E '^Seccomp:' /proc/self/status | tr -d '\\t' | tr ':' ' '")}
	}
	out := fields(run(t, cmd(prog)))
	if out["started"] != "yes" || out["Seccomp"] != "2" || out["unshare"] != "denied" {
		t.Errorf("got %v", out)
	}
	// Without the filter the same sandbox may create a user namespace.
	if out := fields(run(t, cmd(nil))); out["unshare"] != "ok" {
		t.Errorf("control without the filter: %v", out)
	}
}
