package namespace

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// startOnKeeper forks the init from a fresh goroutine locked to its OS
// thread, which then waits until Wait has reaped the command. The kernel
// sends the parent-death signal when the *thread* that forked the child
// ends, and the Go runtime ends threads whenever a locked goroutine exits:
// forking from an arbitrary thread would let an unrelated goroutine kill
// the sandbox. The keeper never unlocks, so its thread (joined to c.Join's
// namespaces, if any) is discarded when it is done.
func (c *Cmd) startOnKeeper(join []*Handle) error {
	errc := make(chan error, 1)
	keeper := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if len(join) > 0 {
			restore, err := enter(join)
			if err != nil {
				errc <- err
				return
			}
			defer restore() // closes the saved handles; the thread dies anyway
		}
		if err := c.ecmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		<-keeper
	}()
	if err := <-errc; err != nil {
		return err
	}
	c.keeper = keeper
	return nil
}

// envPdeathsig passes Pdeathsig to the init in its environment, so it is
// armed before the init reads anything from the parent.
const envPdeathsig = "_CONFINE_INIT_PDEATHSIG"

// setOOMScoreAdj writes OOMScoreAdj for the init (inherited by the
// command) through the host's /proc, before the init starts its setup.
// The init is an unreaped child, so its pid cannot have been recycled.
func (c *Cmd) setOOMScoreAdj() error {
	if c.OOMScoreAdj == nil {
		return nil
	}
	p := "/proc/" + strconv.Itoa(c.Process.Pid) + "/oom_score_adj"
	if err := os.WriteFile(p, []byte(strconv.Itoa(*c.OOMScoreAdj)), 0); err != nil {
		return fmt.Errorf("namespace: setting OOMScoreAdj %d: %w", *c.OOMScoreAdj, err)
	}
	return nil
}
