package namespace_test

import (
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
func denyMkdir() *seccomp.Program {
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
	)
	return seccomp.NewProgram([]unix.SockFilter{
		{Code: ldAbs, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
		{Code: ret, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: ldAbs, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 2, Jf: 0, K: unix.SYS_MKDIR},
		{Code: jeq, Jt: 1, Jf: 0, K: unix.SYS_MKDIRAT},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	})
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
