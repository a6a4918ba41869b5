package namespace

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSysctlValue bounds a sysctl value (a page is what the kernel reads).
const maxSysctlValue = 4096

// ipcSysctls are the kernel.* keys the IPC namespace holds (runc's list).
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// SysctlKind returns the namespace a sysctl key belongs to, for the keys a
// sandbox may set (what runc allows): IPC for kernel.msgmax, msgmnb,
// msgmni, sem, shmall, shmmax, shmmni, shm_rmid_forced and fs.mqueue.*;
// NET for net.*; UTS for kernel.hostname and kernel.domainname; USER for
// user.*. Keys are sysctl(8)'s: dotted ("net.ipv4.ip_forward", where a
// '/' stands for a '.' inside a name, "net.ipv4.conf.eth0/100.forwarding")
// or a path below /proc/sys ("net/ipv4/ip_forward"). Any other key, one
// that would change the host's kernel for everyone, is an *InvalidError
// naming it.
func SysctlKind(key string) (Kind, error) {
	parts, err := sysctlParts(key)
	if err != nil {
		return 0, err
	}
	dotted := strings.Join(parts, ".")
	switch {
	case ipcSysctls[dotted] || parts[0] == "fs" && len(parts) > 2 && parts[1] == "mqueue":
		return IPC, nil
	case parts[0] == "net" && len(parts) > 1:
		return NET, nil
	case dotted == "kernel.hostname" || dotted == "kernel.domainname":
		return UTS, nil
	case parts[0] == "user" && len(parts) > 1:
		return USER, nil
	}
	return 0, &InvalidError{Pkg: "namespace", Field: "Sysctl", Value: key, Reason: "not a namespaced sysctl: it would change the host's kernel"}
}

// sysctlParts splits key into the names of its path below /proc/sys.
func sysctlParts(key string) ([]string, error) {
	bad := func(why string) error {
		return &InvalidError{Pkg: "namespace", Field: "Sysctl", Value: key, Reason: why}
	}
	if key == "" || len(key) > 1024 || strings.ContainsRune(key, 0) {
		return nil, bad("not a sysctl key")
	}
	sep := byte('.')
	if i := strings.IndexAny(key, "./"); i >= 0 && key[i] == '/' {
		sep = '/'
	}
	parts := strings.Split(key, string(sep))
	for i, p := range parts {
		if sep == '.' {
			p = strings.ReplaceAll(p, "/", ".")
			parts[i] = p
		}
		if p == "" || p == "." || p == ".." || strings.ContainsRune(p, '/') {
			return nil, bad("not a sysctl key (empty, '.' or '..' name)")
		}
	}
	return parts, nil
}

// validateSysctl checks Sysctl against the namespaces the command gets:
// each key's namespace created, or joined and not the caller's own.
func (c *Cmd) validateSysctl() error {
	keys := make([]string, 0, len(c.Sysctl))
	for k := range c.Sysctl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		bad := func(why string) error {
			return &InvalidError{Pkg: "namespace", Field: "Sysctl", Value: key, Reason: why}
		}
		k, err := SysctlKind(key)
		if err != nil {
			return err
		}
		if v := c.Sysctl[key]; len(v) > maxSysctlValue || strings.ContainsRune(v, 0) {
			return bad("value longer than 4096 bytes or holding a NUL byte")
		}
		switch parts, _ := sysctlParts(key); strings.Join(parts, ".") {
		case "kernel.hostname":
			if c.Hostname != "" {
				return bad("conflicts with Hostname")
			}
		case "kernel.domainname":
			if c.Domainname != "" {
				return bad("conflicts with Domainname")
			}
		}
		if c.Namespaces.Has(k) {
			continue
		}
		if err := c.checkJoinedForSysctl(k); err != nil {
			return bad(err.Error())
		}
	}
	return nil
}

// checkJoinedForSysctl requires a joined namespace of kind k that is not
// the caller's: a write there would change the host's setting.
func (c *Cmd) checkJoinedForSysctl(k Kind) error {
	var joined *Handle
	for _, h := range c.Join {
		if h != nil && h.kind == k {
			joined = h
		}
	}
	if joined == nil || k == USER {
		return fmt.Errorf("needs a new %s namespace (or a joined one)", k)
	}
	own, err := Current(k)
	if err != nil {
		return fmt.Errorf("comparing with the caller's %s namespace: %v", k, err)
	}
	defer own.Close()
	if joined.Equal(own) {
		return fmt.Errorf("the joined %s namespace is the caller's own", k)
	}
	return nil
}

// writeSysctls runs in the init, in the sandbox's namespaces, before its
// root is built (whose /proc/sys ends up read-only). A sysctl file acts on
// the namespaces of the process writing it, not on those of the procfs it
// is opened in, so the init's own /proc serves; it is checked to be a
// procfs, and each file is opened below it with no symlink, magic link or
// mount crossing, so a joined mount namespace (or anything else mounted
// there) cannot redirect a write to another file.
func writeSysctls(sysctl map[string]string) error {
	if len(sysctl) == 0 {
		return nil
	}
	const resolve = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	dir, err := unix.Openat2(unix.AT_FDCWD, "/proc/sys", &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return &StepError{Pkg: "namespace", Step: StepSysctl, Path: "/proc/sys", Err: err}
	}
	defer unix.Close(dir)
	if err := checkProcfs(dir, "/proc/sys"); err != nil {
		return err
	}
	keys := make([]string, 0, len(sysctl))
	for k := range sysctl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		parts, err := sysctlParts(key)
		if err != nil {
			return err
		}
		rel := strings.Join(parts, "/")
		if err := writeSysctl(dir, rel, sysctl[key]); err != nil {
			return &StepError{Pkg: "namespace", Step: StepSysctl, Path: "/proc/sys/" + rel, Err: err}
		}
	}
	return nil
}

func writeSysctl(dir int, rel, value string) error {
	fd, err := unix.Openat2(dir, rel, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: "/proc/sys/" + rel, Err: err}
	}
	defer unix.Close(fd)
	if err := checkProcfs(fd, "/proc/sys/"+rel); err != nil {
		return err
	}
	// One write at offset 0: the kernel parses the value as a whole.
	n, err := unix.Write(fd, []byte(value))
	if err == nil && n != len(value) {
		err = unix.EIO
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: "/proc/sys/" + rel, Err: err}
	}
	return nil
}

func checkProcfs(fd int, p string) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return &os.PathError{Op: "fstatfs", Path: p, Err: err}
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return &FileError{Path: p, Reason: fmt.Sprintf("not on a procfs (filesystem %#x)", st.Type)}
	}
	return nil
}
