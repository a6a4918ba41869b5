package namespace

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropPrivileges applies the bounding set, credentials, capabilities and
// no_new_privs on the calling (locked, exec'ing) thread only: the raw
// syscalls below are per thread on purpose; the init's other threads die
// at exec.
func dropPrivileges(cfg *initConfig) (string, error) {
	caps := cfg.Capabilities
	cfg.holdAdmin = holdAdmin(cfg)
	if caps != nil {
		if err := dropBounding(caps.Bounding); err != nil {
			return StepCapabilities, err
		}
	}
	if cred := cfg.Credential; cred != nil {
		if err := setCredential(cred, caps != nil); err != nil {
			return StepCredentials, err
		}
	}
	if caps != nil {
		held := *caps
		if cfg.holdAdmin {
			admin := NewCapSet(CapSysAdmin)
			held.Effective, held.Permitted = held.Effective|admin, held.Permitted|admin
		}
		if err := setCaps(&held); err != nil {
			return StepCapabilities, err
		}
	}
	if cfg.Pdeathsig != 0 {
		// A credential change clears the parent-death signal: arm it again
		// (harmless when nothing changed). The "exec reached" write that
		// follows fails if the parent died in between.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(cfg.Pdeathsig), 0, 0, 0); err != nil {
			return StepCredentials, fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err)
		}
	}
	nnp := cfg.NoNewPrivileges
	if len(cfg.Seccomp) > 0 && !nnp && !cfg.holdAdmin {
		// seccomp(2) without CAP_SYS_ADMIN requires no_new_privs.
		eff, err := effectiveCaps()
		nnp = err != nil || !eff.Has(CapSysAdmin)
	}
	if nnp {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return StepNoNewPrivs, err
		}
	}
	return "", nil
}

// holdAdmin reports whether the init keeps CAP_SYS_ADMIN in its effective
// set past dropPrivileges, to load the filter without no_new_privs (which
// seccomp(2) requires of a thread without it) and drop it right after
// (dropAdmin; for a command entering a sandbox, its forked child does
// both, see childFinal): only with a filter, AllowNewPrivileges, explicit
// capabilities that lack CAP_SYS_ADMIN, and the init holding it now. The
// bounding set is dropped as asked, so the command can never regain it.
func holdAdmin(cfg *initConfig) bool {
	c := cfg.Capabilities
	if len(cfg.Seccomp) == 0 || !cfg.AllowNewPrivs || c == nil || c.Effective.Has(CapSysAdmin) {
		return false
	}
	eff, err := effectiveCaps()
	return err == nil && eff.Has(CapSysAdmin)
}

// dropAdmin sets the command's effective, permitted and inheritable sets
// once the filter is loaded, taking back the CAP_SYS_ADMIN holdAdmin kept;
// the filter must allow capset(2). Ambient needs no change: it is a subset
// of the final permitted set already.
func dropAdmin(c *Capabilities) error {
	if err := capset(c); err != nil {
		return fmt.Errorf("dropping CAP_SYS_ADMIN after loading the filter (no_new_privs is off, so the filter must allow capset): %w", err)
	}
	return nil
}

// lastCap asks the kernel which capabilities exist: PR_CAPBSET_READ fails
// with EINVAL for a number beyond CAP_LAST_CAP. It reads no file:
// /proc/sys/kernel/cap_last_cap, read after the pivot, would be whatever
// the sandbox's root or a volume put at that path.
func lastCap() Cap {
	for c := Cap(0); c < 64; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err != nil {
			if c == 0 {
				return CapLastKnown
			}
			return c - 1
		}
	}
	return 63
}

func dropBounding(keep CapSet) error {
	last := lastCap()
	for c := Cap(0); c <= last; c++ {
		if keep.Has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %s): %w", c, err)
		}
	}
	return nil
}

func setCredential(cred *Credential, keepCaps bool) error {
	cred, err := resolveUser(cred)
	if err != nil {
		return err
	}
	if keepCaps {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
		}
	}
	groups := make([]uint32, len(cred.Groups)+1) // +1: never pass a nil pointer
	copy(groups, cred.Groups)
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(cred.Groups)), uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setgroups(%v): %w", cred.Groups, e)
	}
	g := uintptr(cred.GID)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, g, g, g); e != 0 {
		return fmt.Errorf("setresgid(%d): %w", cred.GID, e)
	}
	u := uintptr(cred.UID)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, u, u, u); e != 0 {
		return fmt.Errorf("setresuid(%d): %w", cred.UID, e)
	}
	if keepCaps {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_KEEPCAPS, 0): %w", err)
		}
	}
	return nil
}

// resolveUser returns cred with the ids of cred.User from the sandbox's
// /etc/passwd, or cred itself when it names no user.
func resolveUser(cred *Credential) (*Credential, error) {
	if cred.User == "" {
		return cred, nil
	}
	passwd, err := readSandboxFile("/etc/passwd", maxSandboxFile)
	if err != nil {
		return nil, err
	}
	u, g, err := lookupUser(passwd, cred.User)
	if err != nil {
		return nil, &StepError{Pkg: "namespace", Step: StepCredentials, Path: cred.User, Err: err}
	}
	c := *cred
	c.UID, c.GID = u, g
	return &c, nil
}

func setCaps(c *Capabilities) error {
	if err := capset(c); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	for _, a := range c.Ambient.List() {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(a), 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAP_AMBIENT_RAISE, %s): %w", a, err)
		}
	}
	return nil
}

// capset sets the calling thread's effective, permitted and inheritable
// sets.
func capset(c *Capabilities) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		data[i].Effective = uint32(uint64(c.Effective) >> (32 * i))
		data[i].Permitted = uint32(uint64(c.Permitted) >> (32 * i))
		data[i].Inheritable = uint32(uint64(c.Inheritable) >> (32 * i))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset(eff=%s prm=%s inh=%s): %w", c.Effective, c.Permitted, c.Inheritable, e)
	}
	return nil
}

func effectiveCaps() (CapSet, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return 0, e
	}
	return CapSet(uint64(data[1].Effective)<<32 | uint64(data[0].Effective)), nil
}
