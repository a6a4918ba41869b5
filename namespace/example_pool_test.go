package namespace_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// Keep two sandboxes of one shape ready (namespaces, a read-only root, a
// cgroup of their own with a memory limit) for a build tool that runs
// every step in a fresh one; each step gets its own command and output.
func ExamplePool() {
	root := &mount.Root{Path: "/srv/rootfs", Readonly: true, Mounts: []mount.Mount{mount.Proc("/proc")}}
	n := 0
	pool, err := namespace.NewPool(namespace.PoolConfig[*cgroup.Cgroup]{
		Size: 2,
		New: func() (*namespace.Cmd, *cgroup.Cgroup, error) {
			n++ // New is never called concurrently with itself
			cg, err := cgroup.New(filepath.Join("build", "step"+strconv.Itoa(n)),
				cgroup.Resources{Memory: &cgroup.Memory{Max: 512 << 20}})
			if err != nil {
				return nil, nil, err
			}
			c := &namespace.Cmd{Namespaces: namespace.Set{namespace.PID, namespace.NET, namespace.IPC,
				namespace.MNT, namespace.UTS}, Root: root, CgroupFD: cg.FD()}
			return c, cg, nil // the cgroup travels with its init
		},
		Discard: func(_ *namespace.Cmd, cg *cgroup.Cgroup) { cg.Delete() }, // an init never handed out
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	for _, step := range []string{"make -C /src", "make -C /src check"} {
		c, cg, err := pool.Get(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		c.Path, c.Args, c.Env = "/bin/sh", []string{"sh", "-c", step}, []string{"PATH=/bin:/usr/bin"}
		c.Stdout, c.Stderr = os.Stdout, os.Stderr // handed over at Start
		st, err := c.Run()
		fmt.Println(step, st, err)
		cg.Delete()
	}
}
