package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
)

func setWorkdir(o *options, v string) error {
	if !path.IsAbs(v) {
		return errors.New("must be an absolute path")
	}
	o.workdir = v
	return nil
}

func addEnv(o *options, v string) error {
	k, _, hasVal := strings.Cut(v, "=")
	if k == "" || strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0) {
		return errors.New("want KEY=VAL with a non-empty KEY")
	}
	if !hasVal {
		// docker: "-e KEY" copies KEY from the caller, or drops it if unset.
		val, ok := os.LookupEnv(k)
		if !ok {
			return nil
		}
		v = k + "=" + val
	}
	o.env = append(o.env, v)
	return nil
}

// setUser parses UID[:GID] (numbers) or a user NAME looked up inside the
// sandbox. A UID without GID runs with GID 0, as docker does when the
// image has no passwd entry for it.
func setUser(o *options, v string) error {
	u, g, hasG := strings.Cut(v, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		if hasG || !validUserName(u) {
			return errors.New("want UID[:GID] (numbers) or a user name")
		}
		o.user = &namespace.Credential{User: u}
		return nil
	}
	var gid uint64
	if hasG {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return errors.New("GID must be a number")
		}
	}
	if uid == 1<<32-1 || gid == 1<<32-1 {
		return errors.New("4294967295 is not a valid id")
	}
	o.user = &namespace.Credential{UID: uint32(uid), GID: uint32(gid)}
	return nil
}

func validUserName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// setHostname accepts what sethostname(2) and RFC 1123 accept: at most 64
// bytes of letters, digits, '-' and '.'.
func setHostname(o *options, v string) error {
	if v == "" || len(v) > 64 {
		return errors.New("must be 1..64 characters")
	}
	for _, r := range v {
		if !(r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return errors.New("only letters, digits, '-' and '.' are allowed")
		}
	}
	o.hostname = v
	return nil
}

func setNetwork(o *options, v string) error {
	switch {
	case v == "none" || v == "host":
		o.network, o.netnsPth = v, ""
	case strings.HasPrefix(v, "ns:"):
		p := v[3:]
		if !path.IsAbs(p) {
			return errors.New("ns:PATH needs an absolute path to a network namespace file")
		}
		o.network, o.netnsPth = "ns", p
	default:
		return errors.New("want none, host or ns:PATH (bridge networks are not supported)")
	}
	return nil
}

// checkDeviceLimit checks DEV:VALUE syntax; the library resolves DEV and
// converts VALUE when the resources are built.
func checkDeviceLimit(v string) error {
	i := strings.LastIndexByte(v, ':')
	if i <= 0 || i == len(v)-1 {
		return errors.New("want DEV:VALUE, e.g. /dev/sda:10mb")
	}
	if !path.IsAbs(v[:i]) {
		return errors.New("DEV must be an absolute device path")
	}
	return nil
}

func checkCgroupParent(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	for _, part := range strings.Split(strings.Trim(v, "/"), "/") {
		if part == ".." || part == "." {
			return errors.New("must not contain . or .. components")
		}
	}
	return nil
}

// checkCPUList checks a cpuset list such as "0-3,5".
func checkCPUList(v string) error {
	bad := errors.New("want a CPU list like 0-3,5")
	if v == "" {
		return bad
	}
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return bad
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil || b < a {
				return bad
			}
		}
	}
	return nil
}

// setSecurityOpt accepts docker's forms: no-new-privileges[:true|=true],
// seccomp=unconfined, seccomp=PATH (and the older "seccomp:" spelling).
func setSecurityOpt(o *options, v string) error {
	key, val, has := strings.Cut(v, "=")
	if !has {
		key, val, has = strings.Cut(v, ":")
	}
	switch key {
	case "no-new-privileges":
		b := true
		if has {
			var err error
			if b, err = strconv.ParseBool(val); err != nil {
				return errors.New("no-new-privileges takes true or false")
			}
		}
		o.noNewPrivs, o.noNewPrivsOff = b, !b
	case "seccomp":
		if val == "" {
			return errors.New("seccomp needs unconfined or a profile PATH")
		}
		o.seccomp = val
	case "apparmor", "label", "systempaths":
		return fmt.Errorf("%s is not supported by confine", key)
	default:
		return errors.New("want no-new-privileges, seccomp=unconfined or seccomp=PATH")
	}
	return nil
}

func addCap(add bool) func(*options, string) error {
	return func(o *options, v string) error {
		if !strings.EqualFold(v, "ALL") {
			if _, err := namespace.ParseCap(v); err != nil {
				return errors.New("unknown capability")
			}
		}
		if add {
			o.capAdd = append(o.capAdd, v)
		} else {
			o.capDrop = append(o.capDrop, v)
		}
		return nil
	}
}

// capSet is docker's default set with --cap-drop, then --cap-add applied
// (docker applies drops first, so "--cap-drop ALL --cap-add NET_RAW" keeps
// exactly NET_RAW).
func (o *options) capSet() (namespace.CapSet, error) {
	set := seccomp.DefaultCaps // the one capability type of both packages
	for _, v := range o.capDrop {
		if strings.EqualFold(v, "ALL") {
			set = 0
			continue
		}
		c, _ := namespace.ParseCap(v)
		set = set.Remove(c)
	}
	for _, v := range o.capAdd {
		if strings.EqualFold(v, "ALL") {
			set = namespace.AllCaps
			continue
		}
		c, _ := namespace.ParseCap(v)
		set = set.Add(c)
	}
	return set, nil
}

// deviceSpec is one --device: a host device node, where it appears in the
// sandbox and the access granted. file is the node opened once (O_PATH)
// when the flag was parsed: its type and numbers come from that fd (and
// become the cgroup rule); the init binds the path, and mount refuses the
// bind unless the bound inode is that same device, so a path swapped in
// between binds nothing else. (The fd itself cannot be bound: open_tree
// only clones mounts of the caller's own mount namespace.)
type deviceSpec struct {
	host, container string
	typ             cgroup.DeviceType
	major, minor    int64
	access          cgroup.DeviceAccess
	file            *os.File
}

// addDevice parses HOST[:CONTAINER][:rwm] and checks HOST is a device node.
func addDevice(o *options, v string) error {
	parts := strings.Split(v, ":")
	if len(parts) > 3 || parts[0] == "" {
		return errors.New("want HOST[:CONTAINER][:rwm]")
	}
	d := deviceSpec{host: parts[0], container: parts[0], access: cgroup.DeviceRWM}
	rest := parts[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "/") {
		if len(rest) != 1 {
			return errors.New("want HOST[:CONTAINER][:rwm]")
		}
	} else if len(rest) > 0 {
		d.container, rest = rest[0], rest[1:]
	}
	if len(rest) == 1 {
		a, err := cgroup.ParseDeviceAccess(rest[0])
		if err != nil {
			return errors.New("access must be letters of rwm")
		}
		d.access = a
	}
	if !path.IsAbs(d.host) || !path.IsAbs(d.container) {
		return errors.New("device paths must be absolute")
	}
	fd, err := unix.Open(d.host, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", d.host, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fmt.Errorf("%s: %w", d.host, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		d.typ = cgroup.CharDevice
	case unix.S_IFBLK:
		d.typ = cgroup.BlockDevice
	default:
		unix.Close(fd)
		return fmt.Errorf("%s is not a device node", d.host)
	}
	d.file = os.NewFile(uintptr(fd), d.host)
	d.major, d.minor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	o.devices = append(o.devices, d)
	return nil
}

// deviceMount binds d's node at its container path, checked to be the
// device stat'ed at parse time: read-only, nosuid, noexec (metadata
// changes fail with EROFS, I/O works).
func (d *deviceSpec) deviceMount() mount.Mount {
	typ := byte('c')
	if d.typ == cgroup.BlockDevice {
		typ = 'b'
	}
	return mount.BindDevice(d.host, d.container, typ, uint32(d.major), uint32(d.minor))
}

func (o *options) deviceRules() []cgroup.DeviceRule {
	var rules []cgroup.DeviceRule
	for _, d := range o.devices {
		rules = append(rules, cgroup.AllowDevice(d.typ, d.major, d.minor, d.access))
	}
	return rules
}

// loadProfile reads and validates a Docker JSON seccomp profile; it
// returns the file's bytes (they key the compiled filter's cache) and the
// profile.
func loadProfile(p string) ([]byte, *seccomp.Profile, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, errors.New(errReason(err))
	}
	prof, err := seccomp.Parse(data)
	return data, prof, err
}

func setCgroupns(o *options, v string) error {
	switch v {
	case "private", "host":
		o.cgroupnsOff = v == "host"
		return nil
	}
	return errors.New("want private or host")
}

func setOOMScoreAdj(o *options, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < -1000 || n > 1000 {
		return errors.New("must be an integer in -1000..1000")
	}
	o.oomScoreAdj = n
	return nil
}
