package mount

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Mount is one filesystem to mount inside the root. It is a plain value
// (JSON round-trippable) so it can cross into a re-executed init.
type Mount struct {
	// Source is the host path for "bind" (resolved on the host, before the
	// pivot). For the other types it is the name the mount table shows as
	// the mount's source (the "source" parameter of fsconfig(2), the
	// device field of /proc/self/mountinfo; "" leaves the kernel's
	// "none"), as mount(8) and OCI runtimes set it.
	Source string
	// Target is the path inside the root; it is resolved inside the root
	// (symlinks cannot leave it) and created when missing.
	Target string
	// Type is one of "bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue",
	// "cgroup2" or "dev" (a minimal /dev, see Dev).
	Type string
	// Options are per-mount flags (ro, nosuid, nodev, noexec, noatime,
	// strictatime, relatime, nodiratime and their negations), "bind" for a
	// non-recursive bind, the mount's propagation once attached (shared,
	// slave, private, unbindable; with an "r" prefix for the mounts below
	// it too; a shared mount is a peer group of the sandbox's own, as the
	// tree was made private or slave first), and for filesystems
	// key=value parameters passed to the filesystem (size= and mode= for
	// tmpfs are validated).
	Options []string
}

// Bind returns a recursive bind mount of the host path src at dst, with
// flags as for Tmpfs. With ReadOnly the whole tree, submounts included, is
// made read-only with mount_setattr(AT_RECURSIVE).
func Bind(src, dst string, flags Flags) Mount {
	return Mount{Source: src, Target: dst, Type: "bind", Options: append([]string{"rbind"}, flags.options()...)}
}

// BindDevice returns a bind of the host device node src at dst that Setup
// only makes when the bound inode is the device typ ('c' or 'b')
// major:minor (so a path swapped after it was checked cannot bind anything
// else), read-only, nosuid and noexec: reads, writes and ioctls work, a
// chmod, chown, utimes or setxattr from the sandbox fails with EROFS
// instead of changing the host's node. src may be a /proc/PID/fd/N link
// to a node the caller holds open, which binds exactly that inode.
func BindDevice(src, dst string, typ byte, major, minor uint32) Mount {
	return Mount{Source: src, Target: dst, Type: "bind", Options: []string{"bind", "ro", "nosuid", "noexec",
		fmt.Sprintf("device=%c:%d:%d", typ, major, minor)}}
}

// Flags are per-mount restrictions for the typed constructors.
type Flags uint

// Mount restrictions.
const (
	NoSuid Flags = 1 << iota
	NoDev
	NoExec
	ReadOnly
)

func (f Flags) options() []string {
	var o []string
	for _, x := range []struct {
		f    Flags
		name string
	}{{NoSuid, "nosuid"}, {NoDev, "nodev"}, {NoExec, "noexec"}, {ReadOnly, "ro"}} {
		if f&x.f != 0 {
			o = append(o, x.name)
		}
	}
	return o
}

// Tmpfs returns a tmpfs at dst of at most size bytes (0: the kernel
// default, half of RAM) with permission bits mode (e.g. 01777; 0: the
// kernel default 1777).
func Tmpfs(dst string, size int64, mode uint32, flags Flags) Mount {
	o := flags.options()
	if size != 0 {
		o = append(o, "size="+strconv.FormatInt(size, 10))
	}
	if mode != 0 {
		o = append(o, "mode="+strconv.FormatUint(uint64(mode), 8))
	}
	return Mount{Source: "tmpfs", Target: dst, Type: "tmpfs", Options: o}
}

// Proc returns a procfs at dst (nosuid, nodev, noexec). Setup refuses to
// mount it on a symlink and checks the result is procfs.
func Proc(dst string) Mount {
	return Mount{Source: "proc", Target: dst, Type: "proc", Options: []string{"nosuid", "nodev", "noexec"}}
}

// Sysfs returns a read-only sysfs at dst.
func Sysfs(dst string) Mount {
	return Mount{Source: "sysfs", Target: dst, Type: "sysfs", Options: []string{"ro", "nosuid", "nodev", "noexec"}}
}

// Devpts returns a private devpts instance at dst (ptmxmode=0666,
// mode=0620, gid=5), as /dev/pts of a minimal /dev uses.
func Devpts(dst string) Mount {
	return Mount{Source: "devpts", Target: dst, Type: "devpts",
		Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}
}

// Mqueue returns a POSIX message queue filesystem at dst (it shows the
// queues of the caller's IPC namespace).
func Mqueue(dst string) Mount {
	return Mount{Source: "mqueue", Target: dst, Type: "mqueue", Options: []string{"nosuid", "nodev", "noexec"}}
}

// Cgroup2 returns a cgroup v2 mount at dst; inside a cgroup namespace it
// shows the namespace's subtree.
func Cgroup2(dst string, readonly bool) Mount {
	m := Mount{Source: "cgroup2", Target: dst, Type: "cgroup2", Options: []string{"nosuid", "nodev", "noexec"}}
	if readonly {
		m.Options = append(m.Options, "ro")
	}
	return m
}

// Dev returns a minimal /dev at dst: a tmpfs holding fresh null, zero,
// full, random, urandom and tty nodes made with mknod (so nothing in the
// sandbox can change the host's nodes; inside a user namespace, where
// mknod is refused, read-only nosuid noexec binds of the host's nodes,
// each verified to be the expected character device), the fd, stdin,
// stdout, stderr and ptmx links, a private devpts at pts and a tmpfs at
// shm.
func Dev(dst string) Mount {
	return Mount{Source: "dev", Target: dst, Type: "dev"}
}

// validate checks m before anything is mounted; i is its index in
// Root.Mounts for error messages.
func (m *Mount) validate(i int) (parsedOptions, error) {
	field := fmt.Sprintf("Mounts[%d]", i)
	if !validTypes[m.Type] {
		return parsedOptions{}, &InvalidError{Pkg: "mount", Field: field + ".Type", Value: m.Type, Reason: "unknown mount type"}
	}
	if err := checkTarget(field+".Target", m.Target); err != nil {
		return parsedOptions{}, err
	}
	if m.Type == "bind" {
		if err := checkPath(field+".Source", m.Source); err != nil {
			return parsedOptions{}, err
		}
	} else if strings.ContainsRune(m.Source, 0) || len(m.Source) > 4095 {
		return parsedOptions{}, &InvalidError{Pkg: "mount", Field: field + ".Source", Value: bounded(m.Source),
			Reason: "must be at most 4095 bytes without NUL"}
	}
	return parseOptions(field+".Options", m.Type, m.Options)
}

// checkTarget is checkPath that also refuses the root itself.
func checkTarget(field, p string) error {
	if err := checkPath(field, p); err != nil {
		return err
	}
	if path.Clean(p) == "/" {
		return &InvalidError{Pkg: "mount", Field: field, Value: p, Reason: "cannot mount over the root itself"}
	}
	return nil
}

// bounded shortens a long value for an error message.
func bounded(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// checkPath requires an absolute path without NUL bytes.
func checkPath(field, p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return &InvalidError{Pkg: "mount", Field: field, Value: p, Reason: "must be an absolute path"}
	case strings.ContainsRune(p, 0):
		return &InvalidError{Pkg: "mount", Field: field, Value: p, Reason: "contains a NUL byte"}
	case len(p) > 4095:
		return &InvalidError{Pkg: "mount", Field: field, Value: bounded(p), Reason: "path too long"}
	}
	return nil
}

// ParseOptions splits a docker-like option string ("size=64m,mode=1777,
// ro,nosuid") and validates each option for a mount of type typ.
func ParseOptions(typ, s string) ([]string, error) {
	if !validTypes[typ] {
		return nil, &InvalidError{Pkg: "mount", Field: "Type", Value: typ, Reason: "unknown mount type"}
	}
	if s == "" {
		return nil, nil
	}
	opts := strings.Split(s, ",")
	if _, err := parseOptions("Options", typ, opts); err != nil {
		return nil, err
	}
	return opts, nil
}

// ParseTmpfs parses a docker --tmpfs value, "PATH[:OPTS]", into a tmpfs
// Mount (nosuid, nodev, noexec unless OPTS says otherwise).
func ParseTmpfs(s string) (Mount, error) {
	dst, opts, _ := strings.Cut(s, ":")
	if err := checkTarget("tmpfs", dst); err != nil {
		return Mount{}, err
	}
	o, err := ParseOptions("tmpfs", opts)
	if err != nil {
		return Mount{}, err
	}
	m := Tmpfs(path.Clean(dst), 0, 0, NoSuid|NoDev|NoExec)
	m.Options = append(m.Options, o...)
	return m, nil
}

// ParseVolume parses a docker -v value, "SRC:DST[:OPTS]" with absolute
// paths, into a recursive bind Mount; OPTS is e.g. "ro" or "rw,nosuid".
func ParseVolume(s string) (Mount, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return Mount{}, &InvalidError{Pkg: "mount", Field: "volume", Value: s, Reason: "want SRC:DST[:OPTS]"}
	}
	if err := checkPath("volume source", parts[0]); err != nil {
		return Mount{}, err
	}
	if err := checkTarget("volume target", parts[1]); err != nil {
		return Mount{}, err
	}
	m := Bind(path.Clean(parts[0]), path.Clean(parts[1]), 0)
	if len(parts) == 3 {
		o, err := ParseOptions("bind", parts[2])
		if err != nil {
			return Mount{}, err
		}
		m.Options = append(m.Options, o...)
	}
	return m, nil
}
