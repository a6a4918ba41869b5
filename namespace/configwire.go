package namespace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/mount"
)

// The init's config crosses the config pipe in a compact binary form: the
// init is a fresh process, and decoding JSON there (encoding/json's
// reflection over initConfig and mount.Root, first use of each type) took
// it about a millisecond, on the path every start waits for. Fields go in
// declaration order: integers as uvarints (zigzag for signed ones), strings
// and byte strings with a uvarint length, a presence byte before every
// slice and pointer (nil and empty stay apart), the seccomp filter in the
// kernel's layout. TestConfigWireCoversEveryField fails when a field is
// added to initConfig, mount.Root or their parts without being added here.

// configMagic starts an encoded config; a layout change gets a new one.
const configMagic = "CFG2"

// maxConfig bounds what the init accepts.
const maxConfig = 64 << 20

// errConfigWire is a config the init cannot decode.
var errConfigWire = errors.New("namespace: malformed init config")

type wireWriter struct{ b []byte }

func (w *wireWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *wireWriter) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *wireWriter) str(s string)  { w.uint(uint64(len(s))); w.b = append(w.b, s...) }

func (w *wireWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *wireWriter) strs(ss []string) {
	w.bool(ss != nil)
	w.uint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length that must fit in what is left, at least min bytes
// an element.
func (r *wireReader) count(min int) int {
	n := r.uint()
	if n > uint64(len(r.b)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *wireReader) str() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *wireReader) bool() bool {
	if len(r.b) == 0 || r.b[0] > 1 {
		r.fail()
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *wireReader) strs() []string {
	present := r.bool()
	n := r.count(1)
	if !present || r.err != nil {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

func (r *wireReader) fail() {
	if r.err == nil {
		r.err = errConfigWire
	}
	r.b = nil
}

// u32 reads a uint32 value.
func (r *wireReader) u32() uint32 {
	v := r.uint()
	if v > math.MaxUint32 {
		r.fail()
	}
	return uint32(v)
}

// encodeConfig lays out cfg.
func encodeConfig(cfg *initConfig) []byte {
	w := &wireWriter{b: make([]byte, 0, 1024+8*len(cfg.Seccomp))}
	w.b = append(w.b, configMagic...)
	w.str(cfg.Path)
	w.strs(cfg.Args)
	w.strs(cfg.Env)
	w.str(cfg.Dir)
	w.uint(uint64(cfg.Flags))
	w.str(cfg.Hostname)
	w.str(cfg.Domainname)
	keys := slices.Sorted(maps.Keys(cfg.Sysctl))
	w.bool(cfg.Sysctl != nil)
	w.uint(uint64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(cfg.Sysctl[k])
	}
	w.bool(cfg.Root != nil)
	if cfg.Root != nil {
		encodeRoot(w, cfg.Root)
	}
	w.bool(cfg.Credential != nil)
	if c := cfg.Credential; c != nil {
		w.str(c.User)
		w.uint(uint64(c.UID))
		w.uint(uint64(c.GID))
		w.bool(c.Groups != nil)
		w.uint(uint64(len(c.Groups)))
		for _, g := range c.Groups {
			w.uint(uint64(g))
		}
	}
	w.bool(cfg.Capabilities != nil)
	if c := cfg.Capabilities; c != nil {
		for _, s := range []CapSet{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
			w.uint(uint64(s))
		}
	}
	w.bool(cfg.NoNewPrivileges)
	w.bool(cfg.AllowNewPrivs)
	encodeRlimits(w, cfg.Rlimits)
	w.bool(cfg.Seccomp != nil)
	w.uint(uint64(len(cfg.Seccomp)))
	for _, f := range cfg.Seccomp {
		w.b = binary.LittleEndian.AppendUint16(w.b, f.Code)
		w.b = append(w.b, f.Jt, f.Jf)
		w.b = binary.LittleEndian.AppendUint32(w.b, f.K)
	}
	for _, v := range []int{cfg.FirstFreeFD, cfg.Pdeathsig, cfg.GateFD, cfg.ConsoleFD, cfg.Stdio} {
		w.int(int64(v))
	}
	w.bool(cfg.JoinMount)
	w.bool(cfg.Enter != nil)
	if e := cfg.Enter; e != nil {
		w.bool(e.NSFDs != nil)
		w.uint(uint64(len(e.NSFDs)))
		for _, fd := range e.NSFDs {
			w.int(int64(fd))
		}
		w.int(int64(e.ReleaseFD))
		w.int(int64(e.HoldFD))
		encodeRlimits(w, e.Rlimits)
		w.bool(e.Ctty)
	}
	return w.b
}

func encodeRlimits(w *wireWriter, rls []Rlimit) {
	w.bool(rls != nil)
	w.uint(uint64(len(rls)))
	for _, rl := range rls {
		w.int(int64(rl.Resource))
		w.uint(rl.Cur)
		w.uint(rl.Max)
	}
}

func decodeRlimits(r *wireReader) []Rlimit {
	present, n := r.bool(), r.count(3)
	if !present || r.err != nil {
		return nil
	}
	rls := make([]Rlimit, n)
	for i := range rls {
		rls[i] = Rlimit{Resource: int(r.int()), Cur: r.uint(), Max: r.uint()}
	}
	return rls
}

func encodeRoot(w *wireWriter, r *mount.Root) {
	w.str(r.Path)
	w.bool(r.Readonly)
	w.bool(r.Mounts != nil)
	w.uint(uint64(len(r.Mounts)))
	for _, m := range r.Mounts {
		w.str(m.Source)
		w.str(m.Target)
		w.str(m.Type)
		w.strs(m.Options)
	}
	w.strs(r.MaskedPaths)
	w.strs(r.ReadonlyPaths)
	w.str(r.Propagation)
	w.bool(r.Devices != nil)
	w.uint(uint64(len(r.Devices)))
	for _, d := range r.Devices {
		w.str(d.Path)
		w.uint(uint64(d.Type))
		for _, v := range []uint32{d.Major, d.Minor, d.Mode, d.UID, d.GID} {
			w.uint(uint64(v))
		}
	}
}

// decodeConfig reverses encodeConfig.
func decodeConfig(b []byte) (*initConfig, error) {
	if len(b) < len(configMagic) || string(b[:len(configMagic)]) != configMagic {
		return nil, fmt.Errorf("%w: no %q header", errConfigWire, configMagic)
	}
	r := &wireReader{b: b[len(configMagic):]}
	cfg := &initConfig{}
	cfg.Path = r.str()
	cfg.Args = r.strs()
	cfg.Env = r.strs()
	cfg.Dir = r.str()
	cfg.Flags = uintptr(r.uint())
	cfg.Hostname = r.str()
	cfg.Domainname = r.str()
	if present, n := r.bool(), r.count(2); present && r.err == nil {
		cfg.Sysctl = make(map[string]string, n)
		for range n {
			k := r.str()
			cfg.Sysctl[k] = r.str()
		}
	}
	if r.bool() {
		cfg.Root = decodeRoot(r)
	}
	if r.bool() {
		c := &Credential{User: r.str(), UID: r.u32(), GID: r.u32()}
		present, n := r.bool(), r.count(1)
		if present && r.err == nil {
			c.Groups = make([]uint32, n)
			for i := range c.Groups {
				c.Groups[i] = r.u32()
			}
		}
		cfg.Credential = c
	}
	if r.bool() {
		c := &Capabilities{}
		for _, s := range []*CapSet{&c.Bounding, &c.Effective, &c.Permitted, &c.Inheritable, &c.Ambient} {
			*s = CapSet(r.uint())
		}
		cfg.Capabilities = c
	}
	cfg.NoNewPrivileges = r.bool()
	cfg.AllowNewPrivs = r.bool()
	cfg.Rlimits = decodeRlimits(r)
	if present, n := r.bool(), r.count(8); present && r.err == nil {
		cfg.Seccomp = make([]unix.SockFilter, n)
		for i := range cfg.Seccomp {
			p := r.b[8*i:]
			cfg.Seccomp[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(p), Jt: p[2], Jf: p[3],
				K: binary.LittleEndian.Uint32(p[4:])}
		}
		r.b = r.b[8*n:]
	}
	for _, v := range []*int{&cfg.FirstFreeFD, &cfg.Pdeathsig, &cfg.GateFD, &cfg.ConsoleFD, &cfg.Stdio} {
		*v = int(r.int())
	}
	cfg.JoinMount = r.bool()
	if r.bool() {
		e := &enterConfig{}
		if present, n := r.bool(), r.count(1); present && r.err == nil {
			e.NSFDs = make([]int, n)
			for i := range e.NSFDs {
				e.NSFDs[i] = int(r.int())
			}
		}
		e.ReleaseFD = int(r.int())
		e.HoldFD = int(r.int())
		e.Rlimits = decodeRlimits(r)
		e.Ctty = r.bool()
		cfg.Enter = e
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, r.err
	}
	return cfg, nil
}

func decodeRoot(r *wireReader) *mount.Root {
	root := &mount.Root{Path: r.str(), Readonly: r.bool()}
	if present, n := r.bool(), r.count(5); present && r.err == nil {
		root.Mounts = make([]mount.Mount, n)
		for i := range root.Mounts {
			root.Mounts[i] = mount.Mount{Source: r.str(), Target: r.str(), Type: r.str(), Options: r.strs()}
		}
	}
	root.MaskedPaths = r.strs()
	root.ReadonlyPaths = r.strs()
	root.Propagation = r.str()
	if present, n := r.bool(), r.count(7); present && r.err == nil {
		root.Devices = make([]mount.DeviceNode, n)
		for i := range root.Devices {
			d := mount.DeviceNode{Path: r.str(), Type: byte(r.uint())}
			for _, v := range []*uint32{&d.Major, &d.Minor, &d.Mode, &d.UID, &d.GID} {
				*v = r.u32()
			}
			root.Devices[i] = d
		}
	}
	return root
}
