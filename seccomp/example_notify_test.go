package seccomp_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/confinelab/confine/seccomp"
	"golang.org/x/sys/unix"
)

// Answer a target's notifications for at most a minute, failing each call
// with EPERM, until the target has exited. The listener comes from Load
// with FlagNewListener in the target, passed over a unix socket (see
// examples/seccomp-notify for the whole program).
func ExampleListener_ReceiveContext() {
	var l *seccomp.Listener // from seccomp.NewListener(fdReceivedFromTheTarget)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		n, err := l.ReceiveContext(ctx)
		if errors.Is(err, seccomp.ErrNoTargets) {
			return // every target exited
		}
		if errors.Is(err, unix.ENOENT) {
			continue // the caller was interrupted before we read it
		}
		if err != nil {
			log.Fatal(err) // ctx ended, or the listener failed
		}
		if err := l.Respond(seccomp.Response{ID: n.ID, Errno: unix.EPERM}); err != nil && !errors.Is(err, unix.ENOENT) {
			log.Fatal(err)
		}
	}
}
