package cgroup

import (
	"errors"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

var errClosed = errors.New("cgroup: use of closed Cgroup")

// openFile opens a control file relative to the directory fd, so a
// renamed or replaced path cannot redirect the access.
func (c *Cgroup) openFile(name string, flags int) (int, error) {
	c.mu.Lock()
	dfd := c.fd
	c.mu.Unlock()
	if dfd < 0 {
		return -1, errClosed
	}
	return openat(dfd, name, flags)
}

// readFile returns a control file's content.
func (c *Cgroup) readFile(name string) ([]byte, error) {
	fd, err := c.openFile(name, unix.O_RDONLY)
	if err != nil {
		return nil, fileError("read", filepath.Join(c.path, name), "", err)
	}
	b, err := readAll(fd, nil)
	unix.Close(fd)
	if err != nil {
		return nil, fileError("read", filepath.Join(c.path, name), "", err)
	}
	return b, nil
}

// readAll reads fd to its end, appending to buf. Control files are small:
// the first read usually returns everything.
func readAll(fd int, buf []byte) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// writeFile writes value to a control file in one write(2), as cgroupfs
// requires. O_TRUNC is a no-op on cgroupfs and keeps fake roots honest.
func (c *Cgroup) writeFile(name, value string) error {
	fd, err := c.openFile(name, unix.O_WRONLY|unix.O_TRUNC)
	if err == nil {
		err = c.writeFD(fd, filepath.Join(c.path, name), value)
	}
	if err != nil {
		return fileError("write", filepath.Join(c.path, name), value, err)
	}
	return nil
}

// writePath writes to a control file of another cgroup (an ancestor).
func (c *Cgroup) writePath(path, value string) error {
	fd, err := openat(unix.AT_FDCWD, path, unix.O_WRONLY|unix.O_TRUNC)
	if err == nil {
		err = c.writeFD(fd, path, value)
	}
	if err != nil {
		return fileError("write", path, value, err)
	}
	return nil
}

// writeFD writes value to the open control file fd in one write(2) and
// closes fd. The test hook, when set, runs once the file is open (a
// missing file fails at open, as with the kernel) and can refuse the write.
func (c *Cgroup) writeFD(fd int, path, value string) error {
	if c.writeHook != nil {
		if err := c.writeHook(path, value); err != nil {
			unix.Close(fd)
			return err
		}
	}
	// write(2) neither keeps nor modifies the buffer: no copy needed.
	_, err := writeRetry(fd, unsafe.Slice(unsafe.StringData(value), len(value)))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

func writeRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// maxStackName is the longest path the syscall helpers below copy to the
// stack; longer ones go through x/sys/unix's heap copy.
const maxStackName = 511

// atSyscall runs a *at(2) syscall (openat, mkdirat, unlinkat, fstatat)
// whose second argument is a path, passing the path NUL-terminated from a
// stack buffer: unlike x/sys/unix's wrappers it allocates nothing, which
// matters on the create/apply/delete path (one path per control file).
func atSyscall(trap uintptr, dfd int, path string, a3, a4 uintptr) (uintptr, error) {
	var buf [maxStackName + 1]byte
	var p *byte
	if len(path) <= maxStackName && strings.IndexByte(path, 0) < 0 {
		copy(buf[:], path)
		p = &buf[0]
	} else {
		var err error
		if p, err = unix.BytePtrFromString(path); err != nil {
			return 0, err
		}
	}
	r, _, e := unix.Syscall6(trap, uintptr(dfd), uintptr(unsafe.Pointer(p)), a3, a4, 0, 0)
	if e != 0 {
		return 0, e
	}
	return r, nil
}

// openat opens path relative to dfd (or unix.AT_FDCWD), O_CLOEXEC added,
// retrying on EINTR.
func openat(dfd int, path string, flags int) (int, error) {
	for {
		fd, err := atSyscall(unix.SYS_OPENAT, dfd, path, uintptr(flags|unix.O_CLOEXEC), 0)
		if err != unix.EINTR {
			if err != nil {
				return -1, err
			}
			return int(fd), nil
		}
	}
}

// mkdir is mkdir(2) without allocation.
func mkdir(path string, mode uint32) error {
	_, err := atSyscall(unix.SYS_MKDIRAT, unix.AT_FDCWD, path, uintptr(mode), 0)
	return err
}

// rmdir is rmdir(2) without allocation.
func rmdir(path string) error {
	_, err := atSyscall(unix.SYS_UNLINKAT, unix.AT_FDCWD, path, unix.AT_REMOVEDIR, 0)
	return err
}

// existsAt reports whether name exists relative to dfd (or unix.AT_FDCWD):
// false only when the kernel says ENOENT.
func existsAt(dfd int, name string) bool {
	var st unix.Stat_t
	_, err := atSyscall(unix.SYS_NEWFSTATAT, dfd, name, uintptr(unsafe.Pointer(&st)), unix.AT_SYMLINK_NOFOLLOW)
	return err != unix.ENOENT
}
