package spawnbench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
)

// Namespaces are the sandbox's new namespaces: bwrap --unshare-all's
// five, and a CGROUP one as `confine run` makes.
var Namespaces = namespace.Set{namespace.CGROUP, namespace.PID, namespace.NET,
	namespace.IPC, namespace.MNT, namespace.UTS}

// BwrapArgs is the command line of the bwrap run compared with: cmd in
// every new namespace, root bound read-only, a new /proc, a minimal
// /dev and a tmpfs /tmp.
func BwrapArgs(root string, cmd ...string) []string {
	return append([]string{"bwrap", "--unshare-all", "--ro-bind", root, "/", "--proc", "/proc",
		"--dev", "/dev", "--tmpfs", "/tmp"}, cmd...)
}

// Root is confine's side of the same root: mount.DefaultRoot read-only
// (/proc, read-only /sys, a minimal /dev, masked paths) with a tmpfs on
// /tmp.
func Root(root string) mount.Root {
	r := mount.DefaultRoot(root, true)
	r.Mounts = append(r.Mounts, mount.Tmpfs("/tmp", 0, 0o1777, mount.NoSuid|mount.NoDev))
	return r
}

// Filter is Docker's default seccomp profile compiled for Docker's
// default capabilities, as `confine run` applies it.
func Filter() (*seccomp.Program, error) {
	prog, _, err := seccomp.CompileProfile(seccomp.Default(), seccomp.Target{Caps: seccomp.DefaultCaps})
	return prog, err
}

// Pooled starts /bin/true in the sandbox from a warm namespace.Pool of
// two: each init is forked into a fresh cgroup under a parent (made with
// Docker's device allowlist) and builds its root ahead of need; a start
// takes a waiting init, completes it with Docker's default capabilities
// and seccomp filter, runs it and deletes its cgroup. The pool refills on
// the caller's CPUs. The process must have called namespace.Init.
type Pooled struct {
	pool *namespace.Pool[*cgroup.Cgroup]
	prog *seccomp.Program
}

// NewPooled starts filling the pool: inits in cgroups under parent (an
// existing cgroup v2 directory), with root r and filter prog.
func NewPooled(parent string, r *mount.Root, prog *seccomp.Program) (*Pooled, error) {
	n := 0
	pool, err := namespace.NewPool(namespace.PoolConfig[*cgroup.Cgroup]{Size: 2,
		New: func() (*namespace.Cmd, *cgroup.Cgroup, error) {
			n++
			cg, err := cgroup.New(filepath.Join(parent, "p"+strconv.Itoa(n)), cgroup.Resources{Devices: cgroup.DefaultDevices()})
			if err != nil {
				return nil, nil, err
			}
			return &namespace.Cmd{Namespaces: Namespaces, CgroupFD: cg.FD(), Root: r}, cg, nil
		},
		Discard: func(_ *namespace.Cmd, cg *cgroup.Cgroup) { _ = cg.Delete() }})
	if err != nil {
		return nil, err
	}
	return &Pooled{pool: pool, prog: prog}, nil
}

// Run takes a waiting init, runs /bin/true in it and deletes its cgroup.
func (p *Pooled) Run() error {
	c, cg, err := p.pool.Get(context.Background())
	if err != nil {
		return err
	}
	defer cg.Delete()
	caps := seccomp.DefaultCaps
	c.Path, c.Seccomp, c.Env = "/bin/true", p.prog, []string{}
	c.Capabilities = &namespace.Capabilities{Bounding: caps, Effective: caps, Permitted: caps}
	st, err := c.Run()
	if err == nil && !st.Success() {
		err = fmt.Errorf("pooled /bin/true: %+v", st)
	}
	return err
}

// Close kills the waiting inits and deletes their cgroups.
func (p *Pooled) Close() error { return p.pool.Close() }
