package namespace

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Init must be the first call in main (and in TestMain) of any program that
// starts a Cmd. In the parent it only records that the hook exists and
// returns. When the process is confine's re-executed init it builds the
// sandbox, execs the command and never returns; if that fails it reports
// the error to the parent and exits with status 125.
func Init() {
	initCalled.Store(true)
	v, ok := os.LookupEnv(envInit)
	if !ok || len(os.Args) == 0 || os.Args[0] != initArgv0 {
		return
	}
	base, err := strconv.Atoi(v)
	if err != nil || base < 3 {
		fmt.Fprintf(os.Stderr, "confine init: bad %s=%q\n", envInit, v)
		os.Exit(125)
	}
	// Credentials, capabilities, no_new_privs and seccomp are per thread:
	// all of it happens on this thread, which then execs.
	runtime.LockOSThread()
	pdeathsig, _ := strconv.Atoi(os.Getenv(envPdeathsig))
	os.Exit(runInit(base, pdeathsig))
}

// runInit reads the config from fd base, reports on fd base+1, and execs.
// It only returns on failure.
func runInit(base, pdeathsig int) int {
	unix.CloseOnExec(base + 1)
	status := os.NewFile(uintptr(base+1), "status")
	if pdeathsig != 0 {
		// Armed before the ready byte: if the parent died before this,
		// writing to the status pipe (whose only reader was the parent)
		// fails below and the init gives up. getppid cannot tell, being 0
		// in a new PID namespace.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(pdeathsig), 0, 0, 0); err != nil {
			return fail(status, "prctl(PR_SET_PDEATHSIG)", err)
		}
	}
	// Not dumpable: other processes in the sandbox cannot ptrace the init
	// or open its /proc files while it still holds host resources.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail(status, "prctl(PR_SET_DUMPABLE)", err)
	}
	if _, err := status.Write([]byte{readyByte}); err != nil {
		return 125
	}
	report := func(step string) error {
		_, err := status.Write([]byte(string(rune(recStep)) + step + "\n"))
		return err
	}
	cfg, stdio, preset, step, err := readInitConfig(base, status, report)
	if err != nil {
		return fail(status, step, err)
	}
	if cfg.Enter != nil {
		cfg.initPdeathsig = pdeathsig
		return runEntered(cfg, status, report)
	}
	if !preset {
		step, err = setupNamespaces(cfg, report)
	}
	if err == nil {
		step, err = setupProcess(cfg, report)
	}
	if err != nil {
		return fail(status, step, err)
	}
	// Stdio handed over at Start replaces the init's own (/dev/null) only
	// now: nothing of the setup wrote to it.
	if err := installStdio(cfg.Stdio, stdio); err != nil {
		return fail(status, StepStdio, err)
	}
	// The explicit "exec reached" record: without it the parent treats the
	// pipe's EOF as the init's death. It also proves the parent still
	// lives (its pdeathsig was re-armed after the credential change).
	if _, err := status.Write([]byte{recExec, '\n'}); err != nil {
		return 125
	}
	if cfg.GateFD > 0 {
		status.Close() // Start returns: the command waits at the gate
		if status, err = passGate(cfg.GateFD); err != nil {
			return 125
		}
	}
	return fail(status, StepExec, execCommand(cfg))
}

// fail sends the error to the parent and returns the init's exit status.
func fail(status *os.File, step string, err error) int {
	b, _ := json.Marshal(toWire(step, err))
	_, _ = status.Write(append(b, '\n'))
	status.Close()
	return 125
}

// readInitConfig reads the config from fd base, with the stdio fds
// handed over, and closes base. A Pool's init gets a first config ahead
// (see Cmd.presetup): it builds the namespaces' side then (preset), and
// waits for the command's config. On failure it returns the step.
func readInitConfig(base int, status *os.File, report func(string) error) (*initConfig, []int, bool, string, error) {
	defer unix.Close(base)
	cr := newConfigReader(base)
	payload, preset, err := cr.next()
	if err == nil && preset {
		if step, err := presetup(payload, status, report); err != nil {
			return nil, nil, false, step, err
		}
		payload, _, err = cr.next()
	}
	var cfg *initConfig
	if err == nil {
		cfg, err = decodeConfig(payload)
	}
	if err == nil {
		err = checkStdio(cfg.Stdio, cr.fds)
	}
	if err != nil {
		closeFDs(cr.fds)
		return nil, nil, false, StepConfig, err
	}
	return cfg, cr.fds, preset, "", nil
}

// presetup runs the namespaces' side of the setup from the first config,
// then tells the parent it waits for the second ("W").
func presetup(payload []byte, status *os.File, report func(string) error) (string, error) {
	cfg, err := decodeConfig(payload)
	if err != nil {
		return StepConfig, err
	}
	if step, err := setupNamespaces(cfg, report); err != nil {
		return step, err
	}
	_, err = status.Write([]byte{recWait, '\n'})
	return StepConfig, err
}
