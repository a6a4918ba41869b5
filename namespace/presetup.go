package namespace

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"

	"github.com/confinelab/confine/mount"
)

// presetState is what a presetup built, which Start may not change.
type presetState struct {
	root                 *mount.Root
	hostname, domainname string
	sysctl               map[string]string
}

// presetup has the prestarted init of c build, now, what belongs to its
// namespaces (Sysctl, Root, lo, Hostname, Domainname, the CGROUP
// namespace), then wait for the command's part: what a Pool's inits do
// while they wait. ctx bounds it as StartContext bounds a setup; a
// failure kills and reaps the init and is a *StepError, as from Start.
// Start then refuses other values of those fields, and a cgroup the init
// would have to be moved into (the CGROUP namespace is rooted already).
func (c *Cmd) presetup(ctx context.Context) error {
	p := c.pre
	if p == nil || p.preset != nil {
		return errors.New("namespace: presetup needs a Cmd prestarted once")
	}
	fail := func(err error) error {
		c.pre = nil
		c.abort(p)
		return err
	}
	if err := c.validateSetup(); err != nil {
		return fail(err)
	}
	cfg := c.setupConfig(&initConfig{Flags: p.flags, FirstFreeFD: p.firstFreeFD, Pdeathsig: p.pdeathsig,
		JoinMount: p.joinMount, GateFD: p.gateFD, ConsoleFD: p.consoleFD})
	payload := encodeConfig(cfg)
	frame := binary.LittleEndian.AppendUint32([]byte(presetupMagic), uint32(len(payload)))
	stop := context.AfterFunc(ctx, func() { _ = c.Process.Kill() })
	defer stop()
	// A failed write means the init died early; the status pipe says why.
	_, _ = p.cfgW.Write(append(frame, payload...))
	rep, err := readStatusFunc(bufio.NewReader(p.statR), nil)
	if err == nil && rep.waiting && rep.setupError == nil && ctx.Err() == nil {
		p.preset = &presetState{root: c.Root, hostname: c.Hostname, domainname: c.Domainname, sysctl: maps.Clone(c.Sysctl)}
		return nil
	}
	c.pre = nil
	_ = c.Process.Kill()
	p.close()
	st, _ := c.Wait()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("namespace: presetup not finished: %w", ctx.Err())
	case err != nil:
		return err
	}
	return rep.err(st)
}

// checkPreset refuses a Start that changed what the presetup built.
func (c *Cmd) checkPreset(p *prestarted) error {
	ps := p.preset
	if ps == nil {
		return nil
	}
	changed := func(field, value string) error {
		return &InvalidError{Pkg: "namespace", Field: field, Value: value, Reason: "changed after the init built it (Pool)"}
	}
	switch {
	case c.Root != ps.root:
		return changed("Root", fmt.Sprintf("%p", c.Root))
	case c.Hostname != ps.hostname:
		return changed("Hostname", c.Hostname)
	case c.Domainname != ps.domainname:
		return changed("Domainname", c.Domainname)
	case !maps.Equal(c.Sysctl, ps.sysctl):
		return changed("Sysctl", fmt.Sprint(c.Sysctl))
	case p.move && (c.CgroupFD != 0 || c.CgroupPath != ""):
		return &InvalidError{Pkg: "namespace", Field: "CgroupPath", Value: c.CgroupPath, Reason: "an init set up ahead (Pool) must be born in its cgroup: set it in PoolConfig.New"}
	}
	return nil
}
