package mount

import (
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// DeviceNode is a device node Setup creates in the root's /dev, as the
// OCI runtime spec's linux.devices asks: a character or block device, or a
// FIFO. It only makes the inode; whether the sandbox may open a device is
// the cgroup's device rules' business (cgroup.Resources.Devices).
type DeviceNode struct {
	// Path is where the node goes, an absolute path strictly below /dev
	// ("/dev/fuse", "/dev/net/tun"); missing directories are created. It
	// is resolved below the root's /dev with no symlink allowed, so a
	// hostile rootfs cannot put the node anywhere else.
	Path string
	// Type is 'c' (character device), 'b' (block device) or 'p' (FIFO).
	Type byte
	// Major and Minor number the device (ignored for a FIFO).
	Major, Minor uint32
	// Mode is the permission bits, at most 07777; 0 means 0666.
	Mode uint32
	// UID and GID own the node.
	UID, GID uint32
}

var nodeTypes = map[byte]uint32{'c': unix.S_IFCHR, 'b': unix.S_IFBLK, 'p': unix.S_IFIFO}

// validateDevices checks r.Devices: paths below /dev, each once.
func (r *Root) validateDevices() error {
	seen := map[string]bool{}
	for i, d := range r.Devices {
		field := fmt.Sprintf("Devices[%d]", i)
		if err := checkPath(field+".Path", d.Path); err != nil {
			return err
		}
		clean := path.Clean(d.Path)
		bad := func(f string, v any, why string) error {
			return &InvalidError{Pkg: "mount", Field: field + "." + f, Value: v, Reason: why}
		}
		switch {
		case !strings.HasPrefix(clean, "/dev/"):
			return bad("Path", d.Path, "must be below /dev")
		case seen[clean]:
			return bad("Path", d.Path, "listed twice")
		case nodeTypes[d.Type] == 0:
			return bad("Type", string(rune(d.Type)), "must be 'c', 'b' or 'p'")
		case d.Type != 'p' && d.Major > 4095:
			return bad("Major", d.Major, "must be at most 4095")
		case d.Type != 'p' && d.Minor > 1<<20-1:
			return bad("Minor", d.Minor, "must be at most 1048575")
		case d.Mode > 0o7777:
			return bad("Mode", fmt.Sprintf("%#o", d.Mode), "must be permission bits (at most 07777)")
		}
		seen[clean] = true
	}
	return nil
}

// makeNodes creates r.Devices once the Mounts (a /dev tmpfs among them)
// are in place.
func (s *setup) makeNodes() error {
	if len(s.r.Devices) == 0 {
		return nil
	}
	if s.r.Path == "" && !s.mayCreate("/dev/x") {
		// Never make nodes in the host's own /dev.
		return step("device", "/dev", &os.PathError{Op: "create", Path: "/dev", Err: unix.EROFS})
	}
	dev, err := ensureInRoot(s.root, "/dev", true, true, true)
	if err != nil {
		return step("device", "/dev", err)
	}
	defer unix.Close(dev)
	for i := range s.r.Devices {
		d := &s.r.Devices[i]
		if err := step("device", d.Path, makeNode(dev, d)); err != nil {
			return err
		}
	}
	return nil
}

// makeNode creates d below dev, an O_PATH fd of the root's /dev: its
// parent is resolved with dev as the root and no symlink on the way.
func makeNode(dev int, d *DeviceNode) error {
	rel := strings.TrimPrefix(path.Clean(d.Path), "/dev/")
	dir, base := path.Split(rel)
	parent, err := ensureInRoot(dev, "/"+dir, true, true, true)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	mode := d.Mode
	if mode == 0 {
		mode = 0o666
	}
	want := nodeTypes[d.Type]
	rdev := unix.Mkdev(d.Major, d.Minor)
	if d.Type == 'p' {
		rdev = 0
	}
	err = unix.Mknodat(parent, base, want|mode, int(rdev))
	switch {
	case err == unix.EPERM && d.Type != 'p':
		// A user namespace may not mknod devices: bind the host's node
		// at the same path, verified to be this device, read-only.
		return bindHostNode(parent, base, rel, d)
	case err != nil && err != unix.EEXIST:
		return &os.PathError{Op: "mknod", Path: d.Path, Err: err}
	}
	// New or already there (the minimal /dev's null, say): it must be
	// exactly this node before its mode and owner are set.
	fd, err := unix.Openat(parent, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: d.Path, Err: err}
	}
	defer unix.Close(fd)
	if err := checkNode(fd, d, want, rdev); err != nil {
		return err
	}
	if err := unix.Fchownat(fd, "", int(d.UID), int(d.GID), unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "chown", Path: d.Path, Err: err}
	}
	// mknod applied the umask, and chown may clear set-id bits: the mode
	// goes last. fchmodat has no AT_EMPTY_PATH before Linux 6.6, so it
	// names the entry, and the inode is checked again afterwards.
	if err := unix.Fchmodat(parent, base, mode, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: d.Path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: d.Path, Err: err}
	}
	if st.Mode&0o7777 != mode {
		return &DeviceError{Path: d.Path, Want: fmt.Sprintf("mode %#o", mode), Got: fmt.Sprintf("mode %#o", st.Mode&0o7777)}
	}
	return nil
}

// checkNode verifies fd is the node d describes.
func checkNode(fd int, d *DeviceNode, typ uint32, rdev uint64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: d.Path, Err: err}
	}
	if st.Mode&unix.S_IFMT != typ || (d.Type != 'p' && st.Rdev != rdev) {
		return &DeviceError{Path: d.Path, Want: nodeName(d), Got: describe(&st)}
	}
	return nil
}

func nodeName(d *DeviceNode) string {
	switch d.Type {
	case 'c':
		return fmt.Sprintf("char %d:%d", d.Major, d.Minor)
	case 'b':
		return fmt.Sprintf("block %d:%d", d.Major, d.Minor)
	}
	return "fifo"
}

// bindHostNode binds the host's node hostDevDir/rel onto base in parent,
// refusing it unless it is the device d names (so nothing but that device
// can be bound), read-only, nosuid and noexec as the minimal /dev's binds.
func bindHostNode(parent int, base, rel string, d *DeviceNode) error {
	hp := path.Join(hostDevDir, rel)
	hfd, err := unix.Open(hp, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: hp, Err: err}
	}
	defer unix.Close(hfd)
	if err := checkNode(hfd, &DeviceNode{Path: hp, Type: d.Type, Major: d.Major, Minor: d.Minor},
		nodeTypes[d.Type], unix.Mkdev(d.Major, d.Minor)); err != nil {
		return err
	}
	return bindNode(hfd, parent, base)
}
