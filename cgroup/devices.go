package cgroup

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/devfilter"
)

// DeviceType selects the devices a DeviceRule applies to.
type DeviceType byte

const (
	// AllDevices matches block and character devices ('a').
	AllDevices DeviceType = 'a'
	// BlockDevice matches block devices ('b').
	BlockDevice DeviceType = 'b'
	// CharDevice matches character devices ('c').
	CharDevice DeviceType = 'c'
)

// DeviceAccess is a set of device access bits.
type DeviceAccess uint8

const (
	// DeviceRead allows or denies opening for reading ('r').
	DeviceRead DeviceAccess = 1 << iota
	// DeviceWrite allows or denies opening for writing ('w').
	DeviceWrite
	// DeviceMknod allows or denies mknod(2) of the device ('m').
	DeviceMknod
	// DeviceRWM is all three.
	DeviceRWM = DeviceRead | DeviceWrite | DeviceMknod
)

// DeviceWildcard as a rule's Major or Minor matches any number ('*').
const DeviceWildcard int64 = -1

// DeviceRule allows or denies Access to the devices it matches. The rules
// of Resources.Devices are applied in order to a list that starts with
// every device denied: for each access bit of a request the last matching
// rule that names the bit decides (the OCI runtime spec's, runc's and
// cgroup v1's devices.allow/deny semantics). Enforced by a cgroup device
// eBPF program; see internal/devfilter.
type DeviceRule struct {
	// Type is AllDevices, BlockDevice or CharDevice.
	Type DeviceType
	// Major is the device major number, 0..4095, or DeviceWildcard.
	Major int64
	// Minor is the device minor number, 0..1048575, or DeviceWildcard.
	Minor int64
	// Access is a non-empty set of DeviceRead, DeviceWrite, DeviceMknod.
	Access DeviceAccess
	// Allow grants the access when true, denies it when false.
	Allow bool
}

// AllowDevice returns a rule granting access to the device type major:minor.
func AllowDevice(t DeviceType, major, minor int64, access DeviceAccess) DeviceRule {
	return DeviceRule{Type: t, Major: major, Minor: minor, Access: access, Allow: true}
}

// DenyDevice returns a rule refusing access to the device type major:minor.
func DenyDevice(t DeviceType, major, minor int64, access DeviceAccess) DeviceRule {
	return DeviceRule{Type: t, Major: major, Minor: minor, Access: access}
}

// DefaultDevices returns the device allowlist Docker and runc give a
// container: mknod of any device (creating a node grants no access), and
// rwm on /dev/null, zero, full, random, urandom, tty, console, ptmx and the
// pseudo-terminals /dev/pts/* (136:*). Everything else is denied.
func DefaultDevices() []DeviceRule {
	const w = DeviceWildcard
	return []DeviceRule{
		AllowDevice(CharDevice, w, w, DeviceMknod),
		AllowDevice(BlockDevice, w, w, DeviceMknod),
		AllowDevice(CharDevice, 1, 3, DeviceRWM),   // /dev/null
		AllowDevice(CharDevice, 1, 8, DeviceRWM),   // /dev/random
		AllowDevice(CharDevice, 1, 7, DeviceRWM),   // /dev/full
		AllowDevice(CharDevice, 5, 0, DeviceRWM),   // /dev/tty
		AllowDevice(CharDevice, 1, 5, DeviceRWM),   // /dev/zero
		AllowDevice(CharDevice, 1, 9, DeviceRWM),   // /dev/urandom
		AllowDevice(CharDevice, 5, 1, DeviceRWM),   // /dev/console
		AllowDevice(CharDevice, 136, w, DeviceRWM), // /dev/pts/*
		AllowDevice(CharDevice, 5, 2, DeviceRWM),   // /dev/ptmx
	}
}

// String returns the access in "rwm" notation.
func (a DeviceAccess) String() string {
	var b strings.Builder
	for _, x := range []struct {
		bit DeviceAccess
		c   byte
	}{{DeviceRead, 'r'}, {DeviceWrite, 'w'}, {DeviceMknod, 'm'}} {
		if a&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	if rest := a &^ DeviceRWM; rest != 0 {
		b.WriteString("+0x" + strconv.FormatUint(uint64(rest), 16))
	}
	return b.String()
}

// ParseDeviceAccess parses "rwm" notation (any order, each letter at most
// once, non-empty).
func ParseDeviceAccess(s string) (DeviceAccess, error) {
	var a DeviceAccess
	for i := 0; i < len(s); i++ {
		bit := map[byte]DeviceAccess{'r': DeviceRead, 'w': DeviceWrite, 'm': DeviceMknod}[s[i]]
		if bit == 0 || a&bit != 0 {
			return 0, invalid("DeviceAccess", s, `want a non-empty combination of "r", "w", "m"`)
		}
		a |= bit
	}
	if a == 0 {
		return 0, invalid("DeviceAccess", s, `want a non-empty combination of "r", "w", "m"`)
	}
	return a, nil
}

func validateDevices(rules []DeviceRule) error {
	if len(rules) > devfilter.MaxRules {
		return invalid("Devices", len(rules), "at most "+strconv.Itoa(devfilter.MaxRules)+" rules")
	}
	for i, r := range rules {
		f := "Devices[" + strconv.Itoa(i) + "]."
		switch {
		case r.Type != AllDevices && r.Type != BlockDevice && r.Type != CharDevice:
			return invalid(f+"Type", strconv.QuoteRune(rune(r.Type)), "want 'a', 'b' or 'c'")
		case r.Major != DeviceWildcard && (r.Major < 0 || r.Major > devfilter.MaxMajor):
			return invalid(f+"Major", r.Major, "want 0..4095 or DeviceWildcard")
		case r.Minor != DeviceWildcard && (r.Minor < 0 || r.Minor > devfilter.MaxMinor):
			return invalid(f+"Minor", r.Minor, "want 0..1048575 or DeviceWildcard")
		case r.Access == 0 || r.Access&^DeviceRWM != 0:
			return invalid(f+"Access", strconv.Quote(r.Access.String()), "want a non-empty set of DeviceRead, DeviceWrite, DeviceMknod")
		}
	}
	return nil
}

// toFilter converts validated rules to the program generator's form.
func toFilter(rules []DeviceRule) []devfilter.Rule {
	out := make([]devfilter.Rule, len(rules))
	for i, r := range rules {
		fr := devfilter.Rule{Major: r.Major, Minor: r.Minor, Allow: r.Allow}
		switch r.Type {
		case BlockDevice:
			fr.Type = devfilter.TypeBlock
		case CharDevice:
			fr.Type = devfilter.TypeChar
		}
		if r.Access&DeviceRead != 0 {
			fr.Access |= devfilter.AccRead
		}
		if r.Access&DeviceWrite != 0 {
			fr.Access |= devfilter.AccWrite
		}
		if r.Access&DeviceMknod != 0 {
			fr.Access |= devfilter.AccMknod
		}
		out[i] = fr
	}
	return out
}

// devicesPin is the name of the device link in the cgroup's pin directory.
const devicesPin = "devices"

// applyDevices replaces the cgroup's device program with one enforcing
// rules (nil: leave unchanged; empty: deny every device). Where a BPF
// filesystem is mounted the link is pinned at
// /sys/fs/bpf/confine/cg-<id>/devices and updated in place later, and the
// program itself is shared by every cgroup with the same rules (loaded
// once, see devfilter.AttachShared); otherwise the program is loaded for
// this cgroup and attached without a link (it stays attached after this
// process exits either way).
func (c *Cgroup) applyDevices(rules []DeviceRule) error {
	if rules == nil {
		return nil
	}
	if err := validateDevices(rules); err != nil {
		return err
	}
	id, err := c.pinID()
	if err != nil {
		return err
	}
	dir, err := bpfpin.EnsureDirForID(id)
	switch {
	case errors.Is(err, internal.ErrNotSupported):
		return c.attachUnpinned(rules)
	case err != nil:
		return err
	}
	code, err := devfilter.Encode(toFilter(rules))
	if err != nil {
		return err
	}
	target, release, err := c.attachTarget()
	if err != nil {
		_ = bpfpin.RemovePinDir(dir)
		return err
	}
	defer release()
	if err := devfilter.AttachShared(bpfpin.Default, target, id, code, devicesPin); err != nil {
		_ = bpfpin.RemovePinDir(dir) // only if we left it empty
		return err
	}
	return nil
}

// attachUnpinned loads the program for rules and attaches it without a
// link, where no BPF filesystem is mounted.
func (c *Cgroup) attachUnpinned(rules []DeviceRule) error {
	prog, err := devfilter.Load(toFilter(rules))
	if err != nil {
		return err
	}
	defer prog.Close()
	return devfilter.Attach(c.path, prog, "")
}

// pinID is the cgroup id naming its pin directory, taken from the open
// directory fd so that it is still known after the directory was removed.
// It takes c's lock (through FD): never call it with the lock held.
// attachTarget is the path an attach opens the cgroup by: the cgroup's
// open fd, through a duplicate's /proc/self/fd entry (closed by release),
// so that a program lands on the cgroup pinID named its pins after even
// if someone removed the path and made it anew in between; c.path when c
// holds no fd.
func (c *Cgroup) attachTarget() (path string, release func(), err error) {
	fd := c.FD()
	if fd < 0 {
		return c.path, func() {}, nil
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return "", nil, &os.PathError{Op: "duplicating the fd of", Path: c.path, Err: err}
	}
	return "/proc/self/fd/" + strconv.Itoa(dup), func() { unix.Close(dup) }, nil
}

func (c *Cgroup) pinID() (uint64, error) {
	if fd := c.FD(); fd >= 0 {
		return bpfpin.CgroupIDFromFD(fd)
	}
	return bpfpin.CgroupID(c.path)
}

// deleteDevices detaches every device program from the cgroup and removes
// its pin, its use of a shared program (the program too when it was the
// last user) and (when empty) its pin directory. It also cleans up the pin
// after the directory was removed, as long as c is open.
func (c *Cgroup) deleteDevices() error {
	id, err := c.pinID()
	if err != nil {
		if err := devfilter.Detach(c.path, ""); err != nil {
			return internal.Errorf("removing device program", err)
		}
		return nil
	}
	if err := devfilter.DetachShared(bpfpin.Default, c.path, id, devicesPin); err != nil {
		return internal.Errorf("removing device program", err)
	}
	return bpfpin.RemovePinDir(bpfpin.DirForID(id))
}
