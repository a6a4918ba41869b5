package main

import (
	"debug/elf"
	"fmt"
	"os"
	"syscall"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
)

// sandbox is what a run needs besides its cgroup: the command description
// and the namespace handle it joins (closed by close).
type sandbox struct {
	cmd  *namespace.Cmd
	join *namespace.Handle
	// prestarted: the init was forked by newSandbox and waits for Start.
	prestarted bool
}

// close releases the handle and, when the init was prestarted and the run
// never got to Start (or Start failed), makes sure it is gone.
func (s *sandbox) close() {
	if s == nil {
		return
	}
	if s.prestarted && s.cmd.PidFD() >= 0 {
		_ = s.cmd.Signal(syscall.SIGKILL)
		_, _ = s.cmd.Wait()
	}
	_ = s.join.Close()
}

// newSandbox describes the sandbox's process: new PID, IPC, MNT, UTS (and
// CGROUP unless --cgroupns host) namespaces, NET unless the network is
// host or joined, confine's stdio, death with confine, born in the run's
// cgroup cg. Unless the run
// needs a terminal (-t) or its network namespace prepared first
// (--egress-rate without --network), it forks the init at once
// (namespace.Cmd.Prestart): the init's start-up then overlaps the rest of
// confine's preparation (cgroup, seccomp filter, root).
func newSandbox(o *options, cg *cgroup.Cgroup) (*sandbox, error) {
	stdin, stdout, stderr := sandboxStdio(os.Stdin, os.Stdout, os.Stderr)
	s := &sandbox{cmd: &namespace.Cmd{
		CgroupFD: cg.FD(),
		Stdin:    stdin,
		Stdout:   stdout,
		Stderr:   stderr,
		// The sandbox dies with confine, however confine ends.
		Pdeathsig:   syscall.SIGKILL,
		OOMScoreAdj: &o.oomScoreAdj,
	}}
	ns := namespace.Set{namespace.PID, namespace.IPC, namespace.MNT, namespace.UTS}
	if !o.cgroupnsOff {
		// Rooted at the run's cgroup: the library unshares it once the
		// init is there.
		ns = append(ns, namespace.CGROUP)
	}
	edt := o.network == "none" && o.egressRate != 0
	switch {
	case edt: // complete decides, after preparing the namespace
	case o.network == "none":
		ns = append(ns, namespace.NET)
	case o.network == "ns":
		h, err := namespace.OpenPath(o.netnsPth)
		if err != nil {
			return nil, &FlagError{Flag: "--network", Value: "ns:" + o.netnsPth, Reason: errReason(err)}
		}
		if h.Kind() != namespace.NET {
			_ = h.Close()
			return nil, &FlagError{Flag: "--network", Value: "ns:" + o.netnsPth, Reason: "not a network namespace"}
		}
		s.join = h
		s.cmd.Join = []*namespace.Handle{h}
	}
	s.cmd.Namespaces = ns
	if edt || o.tty {
		return s, nil
	}
	if err := s.cmd.Prestart(); err != nil {
		s.close()
		return nil, fmt.Errorf("starting the sandbox's init: %w", err)
	}
	s.prestarted = true
	return s, nil
}

// complete fills in what the init sets up: the private root, credentials,
// capabilities, the seccomp filter, the command.
func (s *sandbox) complete(o *options) error {
	if o.network == "none" && o.egressRate != 0 {
		h, err := prepareEDTNetns(o)
		if err != nil {
			return err
		}
		if h == nil {
			s.cmd.Namespaces = append(s.cmd.Namespaces, namespace.NET)
		} else {
			s.join = h
			s.cmd.Join = []*namespace.Handle{h}
		}
	}
	caps, err := o.capSet()
	if err != nil {
		return err
	}
	prog, err := o.seccompProgram(caps)
	if err != nil {
		return err
	}
	root := o.root()
	path, argv := o.command[0], o.command
	if o.init {
		if path, err = o.addInit(&root); err != nil {
			return err
		}
		argv = append([]string{path, initSubcommand, "--"}, o.command...)
	}
	c := s.cmd
	c.Path, c.Args, c.Env, c.Dir = path, argv, o.environ(), o.workdir
	c.Hostname = o.effectiveHostname()
	c.Credential = o.user
	c.Capabilities = &namespace.Capabilities{Bounding: caps, Effective: caps, Permitted: caps}
	c.NoNewPrivileges = o.noNewPrivs
	c.Root = &root
	c.Seccomp = prog
	return nil
}

// addInit makes confine's own binary reachable in the sandbox for --init
// and returns its path there: bound read-only into the sandbox's /dev (a
// fresh tmpfs with or without --rootfs; the host path may be hidden, e.g.
// under the private /tmp).
func (o *options) addInit(r *mount.Root) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("--init: finding confine's binary: %w", err)
	}
	if f, err := elf.Open(exe); o.rootfs != "" && err == nil {
		dynamic := false
		for _, p := range f.Progs {
			dynamic = dynamic || p.Type == elf.PT_INTERP
		}
		_ = f.Close()
		if dynamic {
			return "", &FlagError{Flag: "--init", Reason: "confine's binary is dynamically linked and cannot run inside --rootfs; build it with CGO_ENABLED=0"}
		}
	}
	r.Mounts = append(r.Mounts, mount.Bind(exe, initPath, mount.ReadOnly))
	return initPath, nil
}

// root is the private root: mount.DefaultRoot (without --rootfs: the
// host's root read-only with a fresh /dev and private tmpfs on /tmp, /run
// and /var/tmp), a read-only /sys, then --device nodes, then --tmpfs and
// -v mounts in command-line order.
func (o *options) root() mount.Root {
	r := mount.DefaultRoot(o.rootfs, o.readOnly)
	switch {
	case o.rootfs == "" && o.network != "host":
		// The host's /sys shows the host's network devices; a sysfs
		// mounted in the sandbox's NET namespace shows only its own.
		r.Mounts = append(r.Mounts, mount.Sysfs("/sys"))
	case o.rootfs == "":
		// The host's /sys, read-only recursively: no cgroup.procs write
		// can move the command out of its cgroup.
		r.Mounts = append(r.Mounts, mount.Bind("/sys", "/sys", mount.ReadOnly))
	}
	for _, d := range o.devices {
		r.Mounts = append(r.Mounts, d.deviceMount())
	}
	r.Mounts = append(r.Mounts, o.mounts...)
	return r
}

// seccompProgram compiles the built-in profile or --security-opt
// seccomp=PATH for the capabilities the command keeps (groups that need a
// capability apply only with it, as in docker); nil for unconfined. A
// filter compiled by an earlier run of this binary is reused (see
// cachedSeccomp).
func (o *options) seccompProgram(caps namespace.CapSet) (*seccomp.Program, error) {
	if o.seccomp == "unconfined" {
		return nil, nil
	}
	if o.seccomp != "" && o.seccompProfile == nil {
		data, p, err := loadProfile(o.seccomp)
		if err != nil {
			return nil, &FlagError{Flag: "--security-opt", Value: "seccomp=" + o.seccomp, Reason: err.Error()}
		}
		o.seccompData, o.seccompProfile = data, p
	}
	return cachedSeccomp(o.seccompData, uint64(caps), func() (*seccomp.Program, error) {
		p := o.seccompProfile
		if p == nil {
			p = seccomp.Default()
		}
		prog, _, err := seccomp.CompileProfile(p, seccomp.Target{Caps: caps})
		if err != nil {
			return nil, fmt.Errorf("compiling seccomp profile: %w", err)
		}
		return prog, nil
	})
}
