package bwprog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// Names of the pinned objects inside a cgroup's pin directory.
const (
	PinConfig   = "bw_config"
	PinState    = "bw_state"
	PinCounters = "bw_counters"
	PinEgress   = "bw_egress"
	PinIngress  = "bw_ingress"
	PinPacing   = "bw_pacing"
)

// PinNames lists every object Attach pins, for callers checking cleanup.
var PinNames = []string{PinConfig, PinState, PinCounters, PinEgress, PinIngress, PinPacing}

// Limiter is the bandwidth limiter of one cgroup: three maps and three
// links (egress, ingress, pacing), all pinned in one directory. It holds file descriptors; Close
// releases them and leaves the pinned limiter in force, Remove detaches it.
type Limiter struct {
	pinDir string
	maps
	links [2]link.Link
	pace  link.Link // the sock_ops program of Config.PaceRate
}

// maps are a limiter's maps, the first three keyed by Direction: the
// settings (written by userspace), the virtual tails (shared by all CPUs)
// and the counters (one copy per CPU); and the per-socket flow records
// (Config.FairNs), which the kernel frees with each socket. The flow map
// is neither pinned nor adopted by Open: the programs hold it.
type maps struct {
	config, state, counters, flows *ebpf.Map
}

// flowMapSpec is the socket-local storage of the per-flow tails. The
// kernel requires BTF for it (a 32-bit int key, any value), which
// cilium/ebpf generates from Key and Value.
func flowMapSpec() *ebpf.MapSpec {
	u64 := &btf.Int{Name: "u64", Size: 8}
	rec := &btf.Struct{Name: "confine_bw_flow", Size: flowSize, Members: []btf.Member{
		{Name: "tail", Type: u64, Offset: flTail * 8},
		{Name: "epoch", Type: u64, Offset: flEpoch * 8},
		{Name: "greedy", Type: u64, Offset: flGreedy * 8},
	}}
	val := &btf.Struct{Name: "confine_bw_flows", Size: flowValue, Members: []btf.Member{
		{Name: "dir", Type: &btf.Array{Index: &btf.Int{Name: "int", Size: 4}, Type: rec, Nelems: 2}},
		{Name: "paced", Type: u64, Offset: flPaced * 8},
	}}
	return &ebpf.MapSpec{
		Name: "confine_bw_fl", Type: ebpf.SkStorage, KeySize: 4, ValueSize: flowValue,
		Flags: unix.BPF_F_NO_PREALLOC,
		Key:   &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		Value: val,
	}
}

func newMaps() (m maps, err error) {
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	for _, s := range []struct {
		m    **ebpf.Map
		spec ebpf.MapSpec
	}{
		{&m.config, ebpf.MapSpec{Name: "confine_bw_cfg", Type: ebpf.Array, ValueSize: cfgSize}},
		{&m.state, ebpf.MapSpec{Name: "confine_bw_st", Type: ebpf.Array, ValueSize: stSize}},
		{&m.counters, ebpf.MapSpec{Name: "confine_bw_ct", Type: ebpf.PerCPUArray, ValueSize: ctSize}},
	} {
		s.spec.KeySize, s.spec.MaxEntries = 4, 2
		if *s.m, err = ebpf.NewMap(&s.spec); err != nil {
			return m, fmt.Errorf("creating map %s: %w", s.spec.Name, err)
		}
	}
	fs := flowMapSpec()
	if m.flows, err = ebpf.NewMap(fs); err != nil {
		return m, fmt.Errorf("creating map %s: %w", fs.Name, err)
	}
	return m, nil
}

func (m *maps) close() error {
	var errs []error
	for _, p := range []**ebpf.Map{&m.config, &m.state, &m.counters, &m.flows} {
		if *p != nil {
			errs = append(errs, (*p).Close())
			*p = nil
		}
	}
	return errors.Join(errs...)
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
	if l.maps, err = newMaps(); err != nil {
		return nil, err
	}
	for _, d := range []Direction{Egress, Ingress} {
		if err := l.Update(d, cfg[d]); err != nil {
			return nil, err
		}
	}
	for _, d := range []Direction{Egress, Ingress} {
		ps := spec(d, &l.maps)
		prog, err := ebpf.NewProgram(ps)
		if err != nil {
			return nil, fmt.Errorf("loading %s program: %w", d, err)
		}
		l.links[d], err = link.AttachCgroup(link.CgroupOptions{
			Path: cgroupPath, Attach: ps.AttachType, Program: prog})
		prog.Close() // the link holds the program
		if err != nil {
			return nil, fmt.Errorf("attaching %s program to %s: %w", d, cgroupPath, err)
		}
	}
	ps := paceSpec(&l.maps)
	prog, err := ebpf.NewProgram(ps)
	if err != nil {
		return nil, fmt.Errorf("loading pacing program: %w", err)
	}
	l.pace, err = link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: ps.AttachType, Program: prog})
	prog.Close()
	if err != nil {
		return nil, fmt.Errorf("attaching pacing program to %s: %w", cgroupPath, err)
	}
	return l, l.pin()
}

func (l *Limiter) pin() error {
	objs := []struct {
		name string
		pin  func(string) error
	}{
		{PinConfig, l.config.Pin}, {PinState, l.state.Pin}, {PinCounters, l.counters.Pin},
		{PinEgress, l.links[Egress].Pin}, {PinIngress, l.links[Ingress].Pin}, {PinPacing, l.pace.Pin},
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
	if l.counters, err = ebpf.LoadPinnedMap(filepath.Join(pinDir, PinCounters), nil); err != nil {
		return nil, fmt.Errorf("opening pinned counter map: %w", err)
	}
	for d, name := range []string{PinEgress, PinIngress} {
		if l.links[d], err = link.LoadPinnedLink(filepath.Join(pinDir, name), nil); err != nil {
			return nil, fmt.Errorf("opening pinned %s link: %w", name, err)
		}
	}
	if l.pace, err = link.LoadPinnedLink(filepath.Join(pinDir, PinPacing), nil); err != nil {
		return nil, fmt.Errorf("opening pinned %s link: %w", PinPacing, err)
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

// Stats reads one direction's tail and counters, summed over all CPUs.
func (l *Limiter) Stats(d Direction) (State, error) {
	return l.maps.stats(d)
}

func (m *maps) stats(d Direction) (State, error) {
	var s State
	var v [stSize / 8]uint64
	if err := m.state.Lookup(uint32(d), &v); err != nil {
		return s, fmt.Errorf("reading %s state: %w", d, err)
	}
	s.Tail = v[stTail/8]
	var per []Counters
	if err := m.counters.Lookup(uint32(d), &per); err != nil {
		return s, fmt.Errorf("reading %s counters: %w", d, err)
	}
	for _, c := range per {
		s.add(c)
	}
	return s, nil
}

// ProgramIDs returns the kernel ids of the egress and ingress programs
// (for run-time statistics).
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

// PacingID returns the kernel id of the pacing (sock_ops) program.
func (l *Limiter) PacingID() (ebpf.ProgramID, error) {
	info, err := l.pace.Info()
	if err != nil {
		return 0, fmt.Errorf("reading link info: %w", err)
	}
	return info.Program, nil
}

// Remove unpins everything and detaches the programs. The Limiter is
// closed afterwards.
func (l *Limiter) Remove() error {
	err := l.unpin()
	return errors.Join(err, l.Close())
}

// RemovePinned removes the limiter pinned in pinDir, also one pinned only
// in part (an Attach that failed halfway, an unpin interrupted): every
// name in PinNames is unpinned, and the links, programs and maps nothing
// else holds are freed. When the whole set is there it is opened first,
// so the last references go with the fds Remove closes after the pins and
// the kernel frees the links and programs before RemovePinned returns
// (objects dropped with their pin alone are freed later, from a work
// queue). It does not need the cgroup, which may be gone. Missing pins are
// not an error; pinDir itself stays.
func RemovePinned(pinDir string) error {
	var errs []error
	if l, err := Open(pinDir); err == nil {
		errs = append(errs, l.Remove())
	}
	l := &Limiter{pinDir: pinDir}
	return errors.Join(append(errs, l.unpin())...)
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
	if l.pace != nil {
		errs = append(errs, l.pace.Close())
		l.pace = nil
	}
	errs = append(errs, l.maps.close())
	return errors.Join(errs...)
}
