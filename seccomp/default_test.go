package seccomp

import (
	"slices"
	"testing"

	"github.com/confinelab/confine/internal/caps"
	"github.com/confinelab/confine/internal/cbpf"
)

// TestDefaultEqualsDocker proves the built-in profile decides like Docker's
// for several capability sets and kernels: identical resolved rules give
// identical programs, and the simulated decisions agree on every probe.
func TestDefaultEqualsDocker(t *testing.T) {
	docker := loadDocker(t)
	all := DefaultCaps | mustCaps(t, "CAP_SYS_ADMIN,CAP_SYS_PTRACE,CAP_SYS_BOOT,CAP_SYS_MODULE,"+
		"CAP_SYS_PACCT,CAP_SYS_RAWIO,CAP_SYS_TIME,CAP_SYS_TTY_CONFIG,CAP_SYS_NICE,CAP_SYSLOG,"+
		"CAP_BPF,CAP_PERFMON,CAP_DAC_READ_SEARCH")
	for _, tg := range []Target{
		{Caps: DefaultCaps, Kernel: "6.18"},
		{Caps: 0, Kernel: "4.4"},
		{Caps: all, Kernel: "6.1"},
		{Caps: mustCaps(t, "SYS_ADMIN"), Kernel: "5.10"},
	} {
		a, _, err := CompileProfile(docker, tg)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := CompileProfile(Default(), tg)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Instructions(), b.Instructions()) {
			t.Errorf("caps %v kernel %s: programs differ", tg.Caps, tg.Kernel)
		}
		for _, pr := range dockerProbes() {
			for _, args := range argVectors()[:8] {
				d := cbpf.SeccompData{Nr: int32(pr.nr), Arch: pr.arch, Args: args}
				ra, _ := cbpf.Exec(a.Instructions(), &d)
				rb, _ := cbpf.Exec(b.Instructions(), &d)
				if ra != rb {
					t.Fatalf("caps %v: %v nr %#x: docker %v, built-in %v", tg.Caps, pr.abi, pr.nr, ActionFromRet(ra), ActionFromRet(rb))
				}
			}
		}
	}
}

func mustCaps(t testing.TB, list string) CapSet {
	t.Helper()
	s, err := caps.ParseSet(list)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// DefaultCaps is Docker's default list, as names.
func TestDefaultCapsAreDockers(t *testing.T) {
	want := mustCaps(t, "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FSETID,CAP_FOWNER,CAP_MKNOD,CAP_NET_RAW,"+
		"CAP_SETGID,CAP_SETUID,CAP_SETFCAP,CAP_SETPCAP,CAP_NET_BIND_SERVICE,CAP_SYS_CHROOT,CAP_KILL,CAP_AUDIT_WRITE")
	if DefaultCaps != want {
		t.Fatalf("DefaultCaps = %s, want %s", DefaultCaps, want)
	}
}
