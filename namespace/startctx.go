package namespace

import (
	"bufio"
	"context"
	"fmt"
	"os"
)

// StartContext is Start with the init's setup bounded by ctx: when ctx
// ends before the init has exec'd the command (a mount on a hung network
// filesystem, a FIFO where /etc/passwd should be, a slow FUSE lookup), the
// init is killed with SIGKILL, reaped, and StartContext returns an error
// wrapping ctx.Err(); then nothing of it remains, as after a *StepError.
//
// Like net.Dialer.DialContext, ctx bounds only starting: once StartContext
// has returned nil, ending ctx has no effect on the command. Use Signal
// (or Pdeathsig) to bound its run.
func (c *Cmd) StartContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("namespace: starting %s: %w", c.Path, err)
	}
	return c.start(ctx)
}

// handshake sends the init its config and waits until the status pipe
// closes (the command was exec'd) or reports a setup error. When ctx ends
// first the init is killed, which closes the pipe and ends the wait.
//
// After a presetup the ready byte has been read already.
func (c *Cmd) handshake(ctx context.Context, payload []byte, cfgW, statR *os.File, preset bool) error {
	// c.Process is set before the AfterFunc is registered, and os.Process
	// signals through a pidfd, so the kill cannot hit a recycled pid.
	stop := context.AfterFunc(ctx, func() { _ = c.Process.Kill() })
	status := bufio.NewReader(statR)
	if testHookStarted != nil && !preset {
		if b, err := status.Peek(1); err == nil && b[0] == readyByte {
			testHookStarted(c.Process.Pid)
		}
	}
	// A failed write means the init died early; the status pipe says why.
	_ = c.handed.send(cfgW, payload)
	cfgW.Close()
	var rep statusReport
	var rerr error
	if preset {
		rep, rerr = readStatusLines(status, statusReport{ready: true, step: StepConfig}, c.adoptEntered)
	} else {
		rep, rerr = readStatusFunc(status, c.adoptEntered)
	}
	fired := !stop()
	if err := c.settleEntered(rep, !fired && rerr == nil && rep.execReady && rep.setupError == nil); err != nil {
		_ = c.Process.Kill()
		c.Wait()
		return err
	}
	if fired {
		// The kill was sent, maybe just after the exec: either way the
		// process is going away, so Start did not succeed.
		c.Wait()
		return fmt.Errorf("namespace: starting %s: init setup not finished: %w", c.Path, ctx.Err())
	}
	if rerr != nil {
		_ = c.Process.Kill()
		c.Wait()
		return rerr
	}
	if rep.execReady && rep.setupError == nil {
		return nil
	}
	st, _ := c.Wait()
	return rep.err(st)
}
