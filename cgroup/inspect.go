package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Controllers returns the controllers enabled for c, from its
// cgroup.controllers: the ones whose control files c has, and so the
// Stats groups that can be read (cpu.stat exists without any).
func (c *Cgroup) Controllers() ([]string, error) {
	b, err := c.readFile("cgroup.controllers")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// AllProcesses lists the PIDs in the cgroup and all its descendants,
// sorted, as a container runtime's `ps` reports them. Descendants removed
// during the walk are skipped, and so are threaded ones, whose processes
// the kernel lists in their threaded domain.
func (c *Cgroup) AllProcesses() ([]int, error) {
	pids, err := c.Processes()
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(c.path, func(p string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, os.ErrNotExist) && p != c.path:
			return nil
		case err != nil:
			return err
		case !d.IsDir() || p == c.path:
			return nil
		}
		ids, err := readProcsAt(p)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil
		}
		pids = append(pids, ids...)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// readProcsAt reads dir/cgroup.procs of a descendant found by a walk.
func readProcsAt(dir string) ([]int, error) {
	p := filepath.Join(dir, "cgroup.procs")
	fd, err := openat(unix.AT_FDCWD, p, unix.O_RDONLY)
	if err != nil {
		return nil, fileError("read", p, "", err)
	}
	defer unix.Close(fd)
	b, err := readAll(fd, nil)
	if err != nil {
		return nil, fileError("read", p, "", err)
	}
	return parseIDs(b, p)
}
