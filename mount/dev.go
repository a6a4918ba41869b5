package mount

import (
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// hostDevDir is where Setup finds the host device nodes it binds; tests
// point it at a doctored directory.
var hostDevDir = "/dev"

// device is a character device a minimal /dev provides.
type device struct {
	name         string
	major, minor uint32
}

var minimalDevices = []device{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devLinks = [][2]string{
	{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
}

// openDevice opens the host node hostDevDir/name without following
// symlinks and verifies it is the character device major:minor. The
// returned O_PATH fd is what gets bound, so the checked inode is the one
// used.
func openDevice(d device) (int, error) {
	p := path.Join(hostDevDir, d.name)
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	got := describe(&st)
	want := fmt.Sprintf("char %d:%d", d.major, d.minor)
	if got != want {
		unix.Close(fd)
		return -1, &DeviceError{Path: p, Want: want, Got: got}
	}
	return fd, nil
}

func describe(st *unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return fmt.Sprintf("char %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		return fmt.Sprintf("block %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	}
	return fmt.Sprintf("file type %#o", st.Mode&unix.S_IFMT)
}

// devAttrs are the attributes of a bound device node: I/O works, metadata
// changes (chmod, chown, utimes, setxattr) fail with EROFS.
const devAttrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC

// makeDevice creates d in dir (a fresh tmpfs root fd) with mknod, mode
// 0666; inside a user namespace (EPERM) it binds the verified host node
// read-only instead.
func makeDevice(dir int, d device) error {
	err := unix.Mknodat(dir, d.name, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor)))
	if err == nil {
		// mknod applies the umask; the mode must be exactly 0666.
		return unix.Fchmodat(dir, d.name, 0o666, 0)
	}
	if err != unix.EPERM {
		return &os.PathError{Op: "mknod", Path: d.name, Err: err}
	}
	return bindDevice(dir, d)
}

// bindDevice binds the verified host node d onto name inside dir (a fresh
// tmpfs root fd), creating the file to mount on; the bind is read-only.
func bindDevice(dir int, d device) error {
	hfd, err := openDevice(d)
	if err != nil {
		return err
	}
	defer unix.Close(hfd)
	return bindNode(hfd, dir, d.name)
}

// checkDeviceSource verifies a bind's detached clone is the device want
// ("char 1:3", from a device= option; "" checks nothing).
func checkDeviceSource(tree int, src, want string) error {
	if want == "" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(tree, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: src, Err: err}
	}
	if got := describe(&st); got != want {
		return &DeviceError{Path: src, Want: want, Got: got}
	}
	return nil
}

// mountDev builds the minimal /dev on targetfd; source names its tmpfs in
// the mount table, and propagate applies po's propagation to it.
func mountDev(targetfd int, source string, po parsedOptions, propagate func(int, parsedOptions) error) error {
	dev, err := newFS("tmpfs", withSource(source, []fsParam{{"mode", "0755"}, {"size", "65536k"}}),
		(unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC|po.set)&^po.clr)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	if err := attach(dev, targetfd); err != nil {
		return err
	}
	// dev still refers to the root of the new tmpfs, now attached: build
	// inside it directly, no path lookup through the rootfs.
	for _, d := range minimalDevices {
		if err := makeDevice(dev, d); err != nil {
			return err
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlinkat(l[1], dev, l[0]); err != nil {
			return &os.LinkError{Op: "symlink", Old: l[1], New: l[0], Err: err}
		}
	}
	pts, err := parseOptions("Devpts", "devpts", Devpts("/dev/pts").Options)
	if err != nil {
		return err
	}
	if err := subFS(dev, "pts", "devpts", withSource("devpts", pts.params), pts.set); err != nil {
		return err
	}
	if err := subFS(dev, "shm", "tmpfs", withSource("shm", []fsParam{{"mode", "01777"}, {"size", "65536k"}}),
		unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC); err != nil {
		return err
	}
	return propagate(dev, po)
}

// subFS mounts a new fstype instance on directory name below dir.
func subFS(dir int, name, fstype string, params []fsParam, attrs uint64) error {
	tfd, err := ensureInRoot(dir, name, true, true, true)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	mfd, err := newFS(fstype, params, attrs)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return attach(mfd, tfd)
}

// bindNode binds the checked host device node hfd read-only (devAttrs)
// onto name below dir, which it makes as an empty file when missing.
func bindNode(hfd, dir int, name string) error {
	tfd, err := ensureInRoot(dir, name, false, true, true)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	tree, err := cloneTree(hfd, "", false)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	if err := setAttr(tree, devAttrs, 0, false); err != nil {
		return err
	}
	return attach(tree, tfd)
}
