package namespace_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// Give the init ten seconds to build the sandbox (here: mounts from a
// root that might sit on a slow filesystem); the command itself may run
// longer.
func ExampleCmd_StartContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &namespace.Cmd{
		Path:       "/bin/sh",
		Namespaces: namespace.Set{namespace.MNT, namespace.PID},
		Root:       &mount.Root{Path: "/srv/rootfs"},
	}
	if err := c.StartContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Println("sandbox setup hung; the init was killed")
		}
		return
	}
	c.Wait()
}
