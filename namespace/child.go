package namespace

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The command of a Cmd with a Sandbox is forked from the init's locked
// thread with a raw clone (no CLONE_VM: a copy of the process with that
// one thread) and runs, until execve, only the nosplit, norace functions
// below: raw system calls on values the init prepared in child, no
// allocation, no Go runtime. This is how syscall.forkAndExecInChild works,
// and what makes the child single-threaded, which joining a USER or TIME
// namespace requires.

// childData is what the command's child needs, prepared by prepareChild.
// There is one per init process (an init forks one command), kept in a
// global so that no address the child uses can move.
type childData struct {
	flags     uintptr // clone flags
	errFD     uintptr // where a failure is reported (close-on-exec)
	joinedPID bool    // the init joined a PID namespace for it (init side only)

	ctty      bool
	timeFD    int // -1: none
	userFD    int // -1: none
	holdFD    int // -1: none (tests)
	releaseFD int // Start's release byte comes here (see adoptEntered)

	rlimits [rlimNLimits]unix.Rlimit
	rlimSet [rlimNLimits]bool

	dropBounding bool
	keepBounding uint64
	lastCap      uintptr

	setCred  bool
	keepCaps bool
	uid, gid uintptr
	groups   []uint32 // never empty (a sentinel follows the groups)
	nGroups  uintptr

	setCaps bool
	capHdr  unix.CapUserHeader
	capData [2]unix.CapUserData
	ambient uint64

	// holdAdmin: CAP_SYS_ADMIN is kept (heldData, or the init's sets)
	// until the filter is loaded, then capData is set (see holdAdmin).
	holdAdmin bool
	heldData  [2]unix.CapUserData

	pdeathsig      uintptr
	nnp            bool
	nnpUnlessAdmin bool
	probeHdr       unix.CapUserHeader
	probeData      [2]unix.CapUserData

	filter []unix.SockFilter
	prog   unix.SockFprog

	path       *byte
	argv, envp []*byte

	sigAct   [4]uint64 // rt_sigaction's old action (handler first)
	sigDfl   [4]uint64 // SIG_DFL, no flags, empty mask
	fullMask uint64
	oldMask  uint64
	holdBuf  [1]byte
	relBuf   [1]byte

	report [2]uint32 // the failed step and errno, sent to errFD
}

var child childData

// Steps of the child, as reported to the init.
const (
	childStepSignals = iota
	childStepSetsid
	childStepCtty
	childStepRlimit
	childStepTime
	childStepUser
	childStepBounding
	childStepCred
	childStepCaps
	childStepPdeathsig
	childStepNNP
	childStepHold
	childStepRelease
	childStepSeccomp
	childStepExec
)

var childStepNames = [...]string{
	childStepSignals: StepExec, childStepSetsid: StepConsole, childStepCtty: StepConsole,
	childStepRlimit: StepRlimit, childStepTime: StepJoin, childStepUser: StepJoin,
	childStepBounding: StepCapabilities, childStepCred: StepCredentials,
	childStepCaps: StepCapabilities, childStepPdeathsig: StepCredentials,
	childStepNNP: StepNoNewPrivs, childStepHold: StepExec, childStepRelease: StepExec,
	childStepSeccomp: StepSeccomp, childStepExec: StepExec,
}

// childReport decodes what the child wrote on failure.
func childReport(b [8]byte) (string, syscall.Errno) {
	r := *(*[2]uint32)(unsafe.Pointer(&b))
	step := StepExec
	if int(r[0]) < len(childStepNames) {
		step = childStepNames[r[0]]
	}
	return step, syscall.Errno(r[1])
}

// prepareChild fills child from cfg (resolved: Path found, Credential
// with ids) and the USER and TIME namespace fds. With privileges, the
// child applies the limits, credentials and capabilities itself (after
// joining USER or TIME, which needs the init's privileges); otherwise the
// init has already.
func prepareChild(cfg *initConfig, userFD, timeFD int, privileges bool) error {
	d := &child
	d.flags = uintptr(syscall.SIGCHLD) | syscall.CLONE_PARENT
	d.ctty, d.userFD, d.timeFD, d.holdFD = cfg.Enter.Ctty, userFD, timeFD, -1
	d.releaseFD = cfg.Enter.ReleaseFD
	if cfg.Enter.HoldFD > 0 {
		d.holdFD = cfg.Enter.HoldFD
	}
	d.pdeathsig = uintptr(cfg.Pdeathsig) // a fork does not inherit it
	if len(cfg.Seccomp) > 0 {
		d.filter = cfg.Seccomp
		d.prog = unix.SockFprog{Len: uint16(len(d.filter)), Filter: &d.filter[0]}
	}
	if privileges {
		// The init still holds everything: the child drops it, and may
		// keep CAP_SYS_ADMIN until its filter is loaded.
		cfg.holdAdmin = holdAdmin(cfg)
		prepareChildPrivileges(cfg)
	}
	if cfg.holdAdmin {
		// Without privileges the init dropped all but CAP_SYS_ADMIN
		// already (dropPrivileges); either way the child takes it back
		// after loading the filter.
		d.holdAdmin = true
		d.capHdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		d.capData = capUserData(cfg.Capabilities, 0)
	}
	return prepareChildExec(cfg)
}

// capUserData is caps as capset(2) takes them, with extra added to the
// effective and permitted sets.
func capUserData(caps *Capabilities, extra CapSet) [2]unix.CapUserData {
	var data [2]unix.CapUserData
	for i := range data {
		data[i].Effective = uint32(uint64(caps.Effective|extra) >> (32 * i))
		data[i].Permitted = uint32(uint64(caps.Permitted|extra) >> (32 * i))
		data[i].Inheritable = uint32(uint64(caps.Inheritable) >> (32 * i))
	}
	return data
}

// prepareChildPrivileges fills what childPrivileges and the limits need.
func prepareChildPrivileges(cfg *initConfig) {
	d := &child
	for _, r := range cfg.Enter.Rlimits {
		d.rlimits[r.Resource] = unix.Rlimit{Cur: r.Cur, Max: r.Max}
		d.rlimSet[r.Resource] = true
	}
	if caps := cfg.Capabilities; caps != nil {
		d.dropBounding, d.keepBounding, d.lastCap = true, uint64(caps.Bounding), uintptr(lastCap())
		d.setCaps, d.ambient = true, uint64(caps.Ambient)
		d.capHdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		d.capData = capUserData(caps, 0)
		d.heldData = d.capData
		if cfg.holdAdmin {
			d.heldData = capUserData(caps, NewCapSet(CapSysAdmin))
		}
	}
	if cred := cfg.Credential; cred != nil {
		d.setCred, d.keepCaps = true, cfg.Capabilities != nil
		d.uid, d.gid = uintptr(cred.UID), uintptr(cred.GID)
		d.groups = append(append([]uint32(nil), cred.Groups...), 0)
		d.nGroups = uintptr(len(cred.Groups))
	}
	d.nnp = cfg.NoNewPrivileges
	if len(cfg.Seccomp) > 0 {
		d.nnpUnlessAdmin = true // seccomp(2) needs CAP_SYS_ADMIN or no_new_privs
		d.probeHdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	}
}

// prepareChildExec fills what execve needs.
func prepareChildExec(cfg *initConfig) error {
	d := &child
	var err error
	if d.path, err = syscall.BytePtrFromString(cfg.Path); err != nil {
		return err
	}
	if d.argv, err = syscall.SlicePtrFromStrings(cfg.Args); err != nil {
		return err
	}
	if d.envp, err = syscall.SlicePtrFromStrings(cfg.Env); err != nil {
		return err
	}
	d.fullMask = ^uint64(0)
	return nil
}

// startChild forks the command with every signal blocked on this thread,
// so that no Go signal handler can run in the child, and unblocks them
// again in the parent. It returns the child's pid.
func startChild() (int, syscall.Errno) {
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&child.fullMask)), uintptr(unsafe.Pointer(&child.oldMask)), 8, 0, 0); e != 0 {
		return 0, e
	}
	pid, e := forkChild()
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&child.oldMask)), 0, 8, 0, 0)
	return int(pid), e
}

// forkChild clones; in the child it runs childExec and, when that
// returns (a step failed), reports the step and errno and exits.
//
//go:norace
//go:nosplit
func forkChild() (uintptr, syscall.Errno) {
	pid, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, child.flags, 0, 0, 0, 0, 0)
	if e != 0 || pid != 0 {
		return pid, e // the init
	}
	step, e := childExec()
	child.report[0], child.report[1] = uint32(step), uint32(e)
	syscall.RawSyscall(syscall.SYS_WRITE, child.errFD, uintptr(unsafe.Pointer(&child.report[0])), 8)
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 125, 0, 0)
	}
}

// childExec runs the command's setup in order and execs; it returns only
// on failure. Each step needs what the one before it kept: the terminal
// and the limits before the USER namespace (which costs every capability
// outside it), the bounding set before the credentials, the capability
// sets after them, seccomp last.
//
//go:norace
//go:nosplit
func childExec() (uintptr, syscall.Errno) {
	childSignals()
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETSID, 0, 0, 0); e != 0 {
		return childStepSetsid, e
	}
	if child.ctty {
		if _, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, 0, syscall.TIOCSCTTY, 0); e != 0 {
			return childStepCtty, e
		}
	}
	for r := 0; r < rlimNLimits; r++ {
		if !child.rlimSet[r] {
			continue
		}
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, uintptr(r), uintptr(unsafe.Pointer(&child.rlimits[r])), 0, 0, 0); e != 0 {
			return childStepRlimit, e
		}
	}
	if step, e := childJoin(); e != 0 {
		return step, e
	}
	if step, e := childPrivileges(); e != 0 {
		return step, e
	}
	return childFinal()
}

// childSignals sets every signal the Go runtime caught back to its default
// action (ignored ones stay ignored across execve, as exec.Cmd does);
// they are still blocked.
//
//go:norace
//go:nosplit
func childSignals() {
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig == uintptr(syscall.SIGKILL) || sig == uintptr(syscall.SIGSTOP) {
			continue
		}
		_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&child.sigAct)), 8, 0, 0)
		if e != 0 || child.sigAct[0] == 1 { // SIG_IGN
			continue
		}
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&child.sigDfl)), 0, 8, 0, 0)
	}
}

// childJoin enters the TIME and then the USER namespace.
//
//go:norace
//go:nosplit
func childJoin() (uintptr, syscall.Errno) {
	if child.timeFD >= 0 {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, uintptr(child.timeFD), unix.CLONE_NEWTIME, 0); e != 0 {
			return childStepTime, e
		}
	}
	if child.userFD >= 0 {
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, uintptr(child.userFD), unix.CLONE_NEWUSER, 0); e != 0 {
			return childStepUser, e
		}
	}
	return 0, 0
}

// childPrivileges is dropPrivileges in raw system calls: bounding set,
// credentials (keeping capabilities across the uid change), capability
// sets, ambient set, parent-death signal, no_new_privs.
//
//go:norace
//go:nosplit
func childPrivileges() (uintptr, syscall.Errno) {
	if child.dropBounding {
		for c := uintptr(0); c <= child.lastCap; c++ {
			if child.keepBounding&(1<<c) != 0 {
				continue
			}
			if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); e != 0 {
				return childStepBounding, e
			}
		}
	}
	if child.setCred {
		if step, e := childCredentials(); e != 0 {
			return step, e
		}
	}
	if child.setCaps {
		if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&child.capHdr)), uintptr(unsafe.Pointer(&child.heldData[0])), 0); e != 0 {
			return childStepCaps, e
		}
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
			return childStepCaps, e
		}
		for c := uintptr(0); c < 64; c++ {
			if child.ambient&(1<<c) == 0 {
				continue
			}
			if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, c, 0, 0, 0); e != 0 {
				return childStepCaps, e
			}
		}
	}
	if child.pdeathsig != 0 {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, child.pdeathsig, 0); e != 0 {
			return childStepPdeathsig, e
		}
	}
	nnp := child.nnp
	if !nnp && child.nnpUnlessAdmin {
		_, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&child.probeHdr)), uintptr(unsafe.Pointer(&child.probeData[0])), 0)
		nnp = e != 0 || child.probeData[0].Effective&(1<<unix.CAP_SYS_ADMIN) == 0
	}
	if nnp {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
			return childStepNNP, e
		}
	}
	return 0, 0
}

// childCredentials is setCredential in raw system calls.
//
//go:norace
//go:nosplit
func childCredentials() (uintptr, syscall.Errno) {
	if child.keepCaps {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_KEEPCAPS, 1, 0); e != 0 {
			return childStepCred, e
		}
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, child.nGroups, uintptr(unsafe.Pointer(&child.groups[0])), 0); e != 0 {
		return childStepCred, e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, child.gid, child.gid, child.gid); e != 0 {
		return childStepCred, e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, child.uid, child.uid, child.uid); e != 0 {
		return childStepCred, e
	}
	if child.keepCaps {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_KEEPCAPS, 0, 0); e != 0 {
			return childStepCred, e
		}
	}
	return 0, 0
}

// childFinal waits at the test hold, waits for Start's release, unblocks
// signals, loads the filter and execs. Without the release byte (EOF:
// the process that called Start died, or gave up and closed its end) the
// command exits and never runs: a caller killed during Start leaves
// nothing in the sandbox.
//
//go:norace
//go:nosplit
func childFinal() (uintptr, syscall.Errno) {
	if child.holdFD >= 0 {
		if _, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(child.holdFD), uintptr(unsafe.Pointer(&child.holdBuf[0])), 1); e != 0 {
			return childStepHold, e
		}
	}
	if e := childRelease(); e != 0 {
		return childStepRelease, e
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&child.oldMask)), 0, 8, 0, 0); e != 0 {
		return childStepSignals, e
	}
	if child.prog.Len > 0 {
		if _, _, e := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&child.prog))); e != 0 {
			return childStepSeccomp, e
		}
		if child.holdAdmin {
			// The filter must allow this capset (Cmd.AllowNewPrivileges).
			if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&child.capHdr)), uintptr(unsafe.Pointer(&child.capData[0])), 0); e != 0 {
				return childStepSeccomp, e
			}
		}
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(child.path)),
		uintptr(unsafe.Pointer(&child.argv[0])), uintptr(unsafe.Pointer(&child.envp[0])))
	return childStepExec, e
}

// childRelease waits for Start's release byte; EOF is EPIPE.
//
//go:norace
//go:nosplit
func childRelease() syscall.Errno {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(child.releaseFD), uintptr(unsafe.Pointer(&child.relBuf[0])), 1)
	switch {
	case e != 0:
		return e
	case n != 1:
		return syscall.EPIPE
	}
	return 0
}
