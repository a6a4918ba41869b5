package namespace

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
)

// Prestart forks the init now and returns while it starts up (a Go
// runtime start: several milliseconds), so that the caller can finish the
// rest of the description meanwhile (compile a seccomp filter, create the
// cgroup, build the root); Start then sends the init the rest and returns
// as it would have alone. The sum is the same work, but the init's start
// overlaps the caller's.
//
// Prestart reads the fields that shape the init's process: Namespaces,
// Join, UIDMappings, GIDMappings, Stdin, Stdout, Stderr, ExtraFiles, TTY,
// Console, Gate, Pdeathsig and OOMScoreAdj, and the cgroup the init is
// born in. Start refuses other Namespaces, Join, UIDMappings,
// GIDMappings, ExtraFiles, Pdeathsig or OOMScoreAdj than Prestart saw,
// another CgroupFD or CgroupPath than the one the init was born in, and a
// TTY it did not see (an *InvalidError naming the field): the init has
// them already, and Start cannot leave the command less confined than
// asked without a word. Changing Console or Gate afterwards has no
// effect. The other fields are read by Start. Stdin, Stdout and Stderr are the exception when nil
// at Prestart (and TTY and Console are nil): the init is forked with
// /dev/null there (read-only, see Stdin), and a value set for Start is
// handed over, as exec.Cmd takes it (an *os.File as is, anything else
// through a pipe and a copying goroutine that Wait waits for): Start
// sends the files with the config over a unix socket (SCM_RIGHTS), and
// the init installs them as fds 0, 1 and 2 after its setup, right before
// seccomp and exec, so that neither its start-up nor its setup can write
// there. This is what lets a Pool fork inits before it knows whose they
// are. A CgroupFD or CgroupPath set before Prestart is where the init is
// born (CLONE_INTO_CGROUP); one set only for Start is where Start moves
// the init (through cgroup.procs) before the init does anything, in
// either case before any of the command's setup runs. Memory the init allocated
// before a move stays charged to the caller's cgroup. Prefer an empty
// cgroup made before Prestart, with its limits and filters applied while
// the init starts up: the first move into a cgroup in a while waits for an
// RCU grace period in the kernel (12.8 ms on a 2-core VM, more than the
// init's whole start-up), a birth in it does not.
//
// The init waits for Start without a bound. To give up instead, send
// SIGKILL (Signal) and Wait. A failed Start (invalid input included)
// kills and reaps the init, as a failed setup does.
func (c *Cmd) Prestart() error {
	if !initCalled.Load() {
		return ErrInitNotCalled
	}
	if c.ecmd != nil {
		return errAlreadyStarted
	}
	if c.Sandbox != nil {
		// The init that enters a sandbox is shaped by it (its namespace
		// fds and limits): there is nothing to start ahead of Start.
		return &InvalidError{Pkg: "namespace", Field: "Sandbox", Value: "set", Reason: "Prestart does not enter a running sandbox: use Start"}
	}
	if err := c.validateProcess(); err != nil {
		return err
	}
	cfg, err := c.processConfig()
	if err != nil {
		return err
	}
	p, err := c.forkInCgroup(cfg)
	if err != nil {
		return err
	}
	p.move = c.cgroup.fd <= 0
	p.shape = c.shape()
	c.pre = p
	return nil
}

// procShape is what Prestart read of the fields that shape the init and
// that Start cannot apply any more.
type procShape struct {
	join             []*Handle
	uidMaps, gidMaps []IDMap
	cgroupFD         int
	cgroupPath       string
	oomScoreAdj      *int
}

func (c *Cmd) shape() procShape {
	s := procShape{join: slices.Clone(c.Join), uidMaps: slices.Clone(c.UIDMappings), gidMaps: slices.Clone(c.GIDMappings),
		cgroupFD: c.CgroupFD, cgroupPath: c.CgroupPath}
	if c.OOMScoreAdj != nil {
		v := *c.OOMScoreAdj
		s.oomScoreAdj = &v
	}
	return s
}

// checkShape refuses a Start that changed what shaped the prestarted
// init: the init has it already, and keeping it silently would leave the
// command less confined than asked (in the caller's NET namespace after
// a Join set late, say, or in another cgroup than the one named).
func (c *Cmd) checkShape(p *prestarted) error {
	s := p.shape
	changed := func(field, value string) error {
		return &InvalidError{Pkg: "namespace", Field: field, Value: value, Reason: "changed after Prestart"}
	}
	switch {
	case c.Namespaces.CloneFlags() != p.flags:
		return changed("Namespaces", c.Namespaces.String())
	case 3+len(c.ExtraFiles) != p.firstFreeFD:
		return changed("ExtraFiles", strconv.Itoa(len(c.ExtraFiles)))
	case int(c.Pdeathsig) != p.pdeathsig:
		return changed("Pdeathsig", c.Pdeathsig.String())
	case !slices.Equal(c.Join, s.join):
		return changed("Join", fmt.Sprint(c.Join))
	case !slices.Equal(c.UIDMappings, s.uidMaps):
		return changed("UIDMappings", fmt.Sprint(c.UIDMappings))
	case !slices.Equal(c.GIDMappings, s.gidMaps):
		return changed("GIDMappings", fmt.Sprint(c.GIDMappings))
	case (c.OOMScoreAdj == nil) != (s.oomScoreAdj == nil) || c.OOMScoreAdj != nil && *c.OOMScoreAdj != *s.oomScoreAdj:
		return changed("OOMScoreAdj", fmt.Sprint(c.OOMScoreAdj))
	case !p.move && c.CgroupFD != s.cgroupFD:
		return changed("CgroupFD", strconv.Itoa(c.CgroupFD)+": the init was born in the cgroup Prestart saw")
	case !p.move && c.CgroupPath != s.cgroupPath:
		return changed("CgroupPath", c.CgroupPath+": the init was born in the cgroup Prestart saw")
	}
	return nil
}

// prestarted is a forked init waiting for its config: the pipes, and the
// process part of the config it was forked with.
type prestarted struct {
	flags       uintptr
	firstFreeFD int
	pdeathsig   int
	joinMount   bool
	gateFD      int
	consoleFD   int
	move        bool         // born outside any cgroup of Cmd's: Start moves it
	shape       procShape    // what Prestart read: Start refuses changes
	stdio       [3]bool      // stdin, stdout, stderr set at the fork: not handed over
	tty         bool         // TTY set at the fork
	preset      *presetState // set by presetup
	cfgW, statR *os.File
}

func (p *prestarted) close() {
	p.cfgW.Close()
	p.statR.Close()
}

// startPrestarted is Start after Prestart.
func (c *Cmd) startPrestarted(ctx context.Context) error {
	p := c.pre
	c.pre = nil
	fail := func(err error) error {
		c.abort(p)
		return err
	}
	if err := c.validate(); err != nil {
		return fail(err)
	}
	if err := c.checkShape(p); err != nil {
		return fail(err)
	}
	if err := c.checkPreset(p); err != nil {
		return fail(err)
	}
	if c.TTY != nil && !p.tty {
		return fail(&InvalidError{Pkg: "namespace", Field: "TTY", Value: c.TTY.Name(), Reason: "set after Prestart: a controlling terminal is given at the fork"})
	}
	if err := c.checkSeccomp(); err != nil {
		return fail(err)
	}
	h, err := c.prepareHandover(p)
	if err != nil {
		return fail(err)
	}
	cfg := c.setupConfig(&initConfig{Flags: p.flags, FirstFreeFD: p.firstFreeFD, Pdeathsig: p.pdeathsig,
		JoinMount: p.joinMount, GateFD: p.gateFD, ConsoleFD: p.consoleFD, Stdio: h.mask})
	if p.move && (c.CgroupFD != 0 || c.CgroupPath != "") {
		cg, err := openCgroup(c.CgroupFD, c.CgroupPath)
		if err != nil {
			h.closeAll()
			return fail(err)
		}
		c.cgroup = cg
		c.oomBefore = cg.oomKills()
		if err := cg.addProcess(c.Process.Pid); err != nil {
			h.closeAll()
			return fail(err)
		}
	}
	c.handed = h
	if err := c.send(ctx, p, cfg); err != nil {
		h.closeAll()
		return err
	}
	h.start()
	return nil
}
