package mount

import (
	"errors"

	"golang.org/x/sys/unix"
)

const maskAttrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID |
	unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC

// mask hides p inside the root; a missing path is not an error.
func (s *setup) mask(p string) error {
	return s.ifExists(p, func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		var mfd int
		var err error
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			mfd, err = newFS("tmpfs", []fsParam{{"mode", "0555"}}, maskAttrs)
		} else {
			mfd, err = s.cloneDevNull()
		}
		if err != nil {
			return err
		}
		defer unix.Close(mfd)
		return attach(mfd, fd)
	})
}

// ifExists resolves p inside the root and calls fn with an O_PATH fd of
// it, closed afterwards. Masked and read-only path lists name paths that
// a given rootfs or kernel may not have, so a missing one is skipped
// rather than reported.
func (s *setup) ifExists(p string, fn func(fd int) error) error {
	fd, err := resolveInRoot(s.root, p, false)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// cloneDevNull returns a detached read-only (nosuid, noexec) bind of the
// host's /dev/null, verified to be char 1:3 (never the rootfs's own
// /dev/null, which the rootfs owner controls): a chmod of a masked file
// fails with EROFS instead of changing the host's /dev/null.
func (s *setup) cloneDevNull() (int, error) {
	nfd, err := openDevice(minimalDevices[0])
	if err != nil {
		return -1, err
	}
	defer unix.Close(nfd)
	tree, err := cloneTree(nfd, "", false)
	if err != nil {
		return -1, err
	}
	if err := setAttr(tree, devAttrs, 0, false); err != nil {
		unix.Close(tree)
		return -1, err
	}
	return tree, nil
}

// readonly remounts p inside the root read-only (recursively); a missing
// path is not an error.
func (s *setup) readonly(p string) error {
	return s.ifExists(p, func(fd int) error {
		tree, err := cloneTree(fd, "", true)
		if err != nil {
			return err
		}
		defer unix.Close(tree)
		if err := setAttr(tree, unix.MOUNT_ATTR_RDONLY, 0, true); err != nil {
			return err
		}
		return attach(tree, fd)
	})
}
