package bwprog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/confinelab/confine/internal"
)

// Names of the pinned objects inside a cgroup's pin directory.
const (
	PinConfig  = "bw_config"
	PinState   = "bw_state"
	PinEgress  = "bw_egress"
	PinIngress = "bw_ingress"
)

// PinNames lists every object Attach pins, for callers checking cleanup.
var PinNames = []string{PinConfig, PinState, PinEgress, PinIngress}

// Limiter is the bandwidth limiter of one cgroup: two maps and two links,
// all pinned in one directory. It holds file descriptors; Close releases
// them and leaves the pinned limiter in force, Remove detaches it.
type Limiter struct {
	pinDir string
	config *ebpf.Map
	state  *ebpf.Map
	links  [2]link.Link
}

func newMaps() (config, state *ebpf.Map, err error) {
	config, err = ebpf.NewMap(&ebpf.MapSpec{Name: "confine_bw_cfg", Type: ebpf.Array,
		KeySize: 4, ValueSize: cfgSize, MaxEntries: 2})
	if err != nil {
		return nil, nil, fmt.Errorf("creating config map: %w", err)
	}
	state, err = ebpf.NewMap(&ebpf.MapSpec{Name: "confine_bw_st", Type: ebpf.Array,
		KeySize: 4, ValueSize: stSize, MaxEntries: 2})
	if err != nil {
		config.Close()
		return nil, nil, fmt.Errorf("creating state map: %w", err)
	}
	return config, state, nil
}

// Attach loads both programs, writes cfg (indexed by Direction), attaches
// them to the cgroup directory as bpf_links and pins maps and links in
// pinDir, which must exist on a BPF filesystem. On error nothing stays
// attached or pinned.
func Attach(cgroupPath, pinDir string, cfg [2]Config) (_ *Limiter, err error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	l := &Limiter{pinDir: pinDir}
	defer func() {
		if err != nil {
			l.unpin()
			l.Close()
		}
	}()
	if l.config, l.state, err = newMaps(); err != nil {
		return nil, err
	}
	for _, d := range []Direction{Egress, Ingress} {
		if err := l.Update(d, cfg[d]); err != nil {
			return nil, err
		}
	}
	for _, d := range []Direction{Egress, Ingress} {
		prog, err := ebpf.NewProgram(spec(d, l.config, l.state))
		if err != nil {
			return nil, fmt.Errorf("loading %s program: %w", d, err)
		}
		l.links[d], err = link.AttachCgroup(link.CgroupOptions{
			Path: cgroupPath, Attach: spec(d, l.config, l.state).AttachType, Program: prog})
		prog.Close() // the link holds the program
		if err != nil {
			return nil, fmt.Errorf("attaching %s program to %s: %w", d, cgroupPath, err)
		}
	}
	return l, l.pin()
}

func (l *Limiter) pin() error {
	objs := []struct {
		name string
		pin  func(string) error
	}{
		{PinConfig, l.config.Pin}, {PinState, l.state.Pin},
		{PinEgress, l.links[Egress].Pin}, {PinIngress, l.links[Ingress].Pin},
	}
	for _, o := range objs {
		if err := o.pin(filepath.Join(l.pinDir, o.name)); err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) {
				return &internal.UnsupportedError{Feature: "pinning cgroup bpf_link",
					MinKernel: "5.7", Err: err}
			}
			return fmt.Errorf("pinning %s: %w", o.name, err)
		}
	}
	return nil
}

// Open adopts the limiter pinned in pinDir by an earlier Attach, possibly
// by another process. It returns an error matching os.ErrNotExist when
// nothing is pinned there.
func Open(pinDir string) (_ *Limiter, err error) {
	l := &Limiter{pinDir: pinDir}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.config, err = ebpf.LoadPinnedMap(filepath.Join(pinDir, PinConfig), nil); err != nil {
		return nil, fmt.Errorf("opening pinned config map: %w", err)
	}
	if l.state, err = ebpf.LoadPinnedMap(filepath.Join(pinDir, PinState), nil); err != nil {
		return nil, fmt.Errorf("opening pinned state map: %w", err)
	}
	for d, name := range []string{PinEgress, PinIngress} {
		if l.links[d], err = link.LoadPinnedLink(filepath.Join(pinDir, name), nil); err != nil {
			return nil, fmt.Errorf("opening pinned %s link: %w", name, err)
		}
	}
	return l, nil
}

// Update replaces one direction's settings; the programs see them on the
// next packet, nothing is detached.
func (l *Limiter) Update(d Direction, c Config) error {
	if err := l.config.Update(uint32(d), c, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("updating %s config: %w", d, err)
	}
	return nil
}

// Config reads one direction's settings back.
func (l *Limiter) Config(d Direction) (Config, error) {
	var c Config
	if err := l.config.Lookup(uint32(d), &c); err != nil {
		return c, fmt.Errorf("reading %s config: %w", d, err)
	}
	return c, nil
}

// Stats reads one direction's counters.
func (l *Limiter) Stats(d Direction) (State, error) {
	var s State
	if err := l.state.Lookup(uint32(d), &s); err != nil {
		return s, fmt.Errorf("reading %s counters: %w", d, err)
	}
	return s, nil
}

// ProgramIDs returns the kernel ids of the attached programs (for
// run-time statistics).
func (l *Limiter) ProgramIDs() ([2]ebpf.ProgramID, error) {
	var ids [2]ebpf.ProgramID
	for d, lk := range l.links {
		info, err := lk.Info()
		if err != nil {
			return ids, fmt.Errorf("reading link info: %w", err)
		}
		ids[d] = info.Program
	}
	return ids, nil
}

// Remove unpins everything and detaches both programs. The Limiter is
// closed afterwards.
func (l *Limiter) Remove() error {
	err := l.unpin()
	return errors.Join(err, l.Close())
}

func (l *Limiter) unpin() error {
	var errs []error
	for _, name := range PinNames {
		p := filepath.Join(l.pinDir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unpinning %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Close releases the file descriptors. Pinned objects stay in force. It is
// nil-safe and idempotent.
func (l *Limiter) Close() error {
	if l == nil {
		return nil
	}
	var errs []error
	for i, lk := range l.links {
		if lk != nil {
			errs = append(errs, lk.Close())
			l.links[i] = nil
		}
	}
	for _, m := range []**ebpf.Map{&l.config, &l.state} {
		if *m != nil {
			errs = append(errs, (*m).Close())
			*m = nil
		}
	}
	return errors.Join(errs...)
}
