package cgroup

import (
	"errors"
	"io"
	"os"
	"path/filepath"

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
	for {
		fd, err := unix.Openat(dfd, name, flags|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// readFile returns a control file's content.
func (c *Cgroup) readFile(name string) ([]byte, error) {
	fd, err := c.openFile(name, unix.O_RDONLY)
	if err != nil {
		return nil, &FileError{Op: "read", Path: filepath.Join(c.path, name), Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, &FileError{Op: "read", Path: filepath.Join(c.path, name), Err: err}
	}
	return b, nil
}

// writeFile writes value to a control file in one write(2), as cgroupfs
// requires. O_TRUNC is a no-op on cgroupfs and keeps fake roots honest.
func (c *Cgroup) writeFile(name, value string) error {
	if c.writeHook != nil {
		if err := c.writeHook(filepath.Join(c.path, name), value); err != nil {
			return &FileError{Op: "write", Path: filepath.Join(c.path, name), Value: value, Err: err}
		}
	}
	fd, err := c.openFile(name, unix.O_WRONLY|unix.O_TRUNC)
	if err == nil {
		_, err = writeRetry(fd, []byte(value))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return &FileError{Op: "write", Path: filepath.Join(c.path, name), Value: value, Err: err}
	}
	return nil
}

func writeRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// writePath writes to a control file of another cgroup (an ancestor).
func (c *Cgroup) writePath(path, value string) error {
	if c.writeHook != nil {
		if err := c.writeHook(path, value); err != nil {
			return &FileError{Op: "write", Path: path, Value: value, Err: err}
		}
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = writeRetry(fd, []byte(value))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return &FileError{Op: "write", Path: path, Value: value, Err: err}
	}
	return nil
}
