package namespace

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
)

// The status pipe carries, from the init to the parent: readyByte once the
// init runs; then one line per record: "S<step>" when a setup step
// begins, "X" when the init is about to exec (after every setup step,
// right before seccomp and execve), and a JSON wireError when a step
// failed. The pipe is close-on-exec, so EOF after "X" means the command
// was exec'd; EOF without "X" means the init died (crashed, killed,
// OOM-killed) and is reported as such, never as the command's status.
const (
	recStep = 'S'
	recExec = 'X'
	recPid  = 'P' // the pid of the command a Cmd with a Sandbox forked
	recWait = 'W' // a presetup is done: the init waits for the rest
)

// statusReport is what the parent learnt from the status pipe.
type statusReport struct {
	ready      bool   // the init reached the handshake
	step       string // the last step the init began
	execReady  bool   // the init reached exec
	waiting    bool   // the init finished a presetup
	setupError error  // a step failure the init reported
	childPid   int    // with a Sandbox: the command's pid, once forked
}

func readStatus(r io.Reader) (statusReport, error) { return readStatusFunc(r, nil) }

// readStatusFunc is readStatus calling onPid, when not nil, as soon as a
// "P" record arrives.
func readStatusFunc(r io.Reader, onPid func(pid int)) (statusReport, error) {
	var rep statusReport
	br := bufio.NewReader(r)
	b, err := br.ReadByte()
	if err != nil || b != readyByte {
		return rep, nil
	}
	return readStatusLines(br, statusReport{ready: true, step: StepConfig}, onPid)
}

// readStatusLines reads the records after the ready byte into rep, until
// EOF or a recWait.
func readStatusLines(br *bufio.Reader, rep statusReport, onPid func(pid int)) (statusReport, error) {
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
		case line[0] == recStep:
			rep.step = line[1:]
		case line[0] == recExec:
			rep.execReady = true
		case line[0] == recWait:
			rep.waiting = true
			return rep, nil
		case line[0] == recPid:
			rep.childPid, _ = strconv.Atoi(line[1:])
			if onPid != nil {
				onPid(rep.childPid)
			}
		default:
			var w wireError
			if jerr := json.Unmarshal([]byte(line), &w); jerr != nil {
				return rep, fmt.Errorf("namespace: decoding init status %q: %w", line, jerr)
			}
			rep.setupError = w.toError()
		}
		if errors.Is(err, io.EOF) {
			return rep, nil
		}
		if err != nil {
			return rep, fmt.Errorf("namespace: reading init status: %w", err)
		}
	}
}

// InitDiedError is the cause in a *StepError when the init ended (exited,
// crashed or was killed, e.g. by the OOM killer) before it reached exec:
// Step in the StepError names the step it was in.
type InitDiedError struct {
	// ExitCode is the init's exit status, or -1 when a signal killed it.
	ExitCode int
	// Signal is the signal that killed it, or 0.
	Signal syscall.Signal
}

func (e *InitDiedError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("init killed by signal %d (%v) before exec", int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("init exited with status %d before exec", e.ExitCode)
}

// statusError turns a finished handshake into Start's result; st is the
// init's state once reaped (nil when it was not waited for).
func (rep statusReport) err(st *State) error {
	switch {
	case rep.setupError != nil:
		return rep.setupError
	case rep.execReady:
		return nil
	case !rep.ready && (st == nil || st.Signal == 0):
		return fmt.Errorf("%w (the child exited before the init handshake)", ErrInitNotCalled)
	}
	died := &InitDiedError{ExitCode: -1}
	if st != nil {
		died.ExitCode, died.Signal = st.ExitCode, st.Signal
	}
	step := rep.step
	if !rep.ready {
		step = StepStart
	}
	return &StepError{Pkg: "namespace", Step: step, Err: died}
}
