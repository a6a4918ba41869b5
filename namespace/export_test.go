package namespace

import "os"

// SetTestHold makes the command of c, a Cmd with a Sandbox, wait for a
// byte on hold after its whole setup, right before execve: a still point
// from which a test can look at the forked command.
func SetTestHold(c *Cmd, hold *os.File) { c.testHold = hold }

// SetTestHookEntered sets what Start of a Cmd with a Sandbox calls when
// it learns the pid of the command the init forked (step "forked"), and
// once it has released that command to execve ("released").
func SetTestHookEntered(fn func(step string, initPid, pid int)) { testHookEntered = fn }

// ReplaceNamespace puts src's namespace of kind k in dst's place: a
// Sandbox whose process lives but whose namespace does not, as when the
// sandbox's init exits between Start's checks and the fork.
func ReplaceNamespace(dst, src *Sandbox, k Kind) {
	for i, h := range dst.ns {
		if h.kind != k {
			continue
		}
		for _, o := range src.ns {
			if o.kind == k {
				h.Close()
				dst.ns[i] = o // closed twice at the end: Close is idempotent
			}
		}
	}
}
