package mount

import (
	"errors"
	"os"
	"path"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// maxSymlinks bounds symlink expansion in the fallback resolver, like the
// kernel's MAXSYMLINKS.
const maxSymlinks = 40

// noOpenat2 is set once openat2(2) returned ENOSYS (Linux < 5.6, or a
// seccomp filter that hides it); later lookups go straight to the fallback.
var noOpenat2 atomic.Bool

// resolveInRoot opens path, interpreted inside the directory root as if it
// were "/", and returns an O_PATH|O_CLOEXEC fd. Symlinks (absolute ones and
// ".." included) never leave root; magic links (/proc/self/fd/N style) are
// refused. With noSymlinks any symlink on the way is refused with ELOOP.
func resolveInRoot(root int, p string, noSymlinks bool) (int, error) {
	if !noOpenat2.Load() {
		fd, err := openat2InRoot(root, p, noSymlinks)
		if !errors.Is(err, unix.ENOSYS) {
			return fd, err
		}
		noOpenat2.Store(true)
	}
	return walkInRoot(root, p, noSymlinks)
}

func openat2InRoot(root int, p string, noSymlinks bool) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	if noSymlinks {
		how.Resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	// EAGAIN means a concurrent rename raced with ".." resolution; the
	// kernel asks us to retry rather than risk an escape.
	for i := 0; ; i++ {
		fd, err := unix.Openat2(root, relPath(p), &how)
		if err == unix.EAGAIN && i < 64 {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat2", Path: p, Err: err}
		}
		return fd, nil
	}
}

// relPath turns p into a clean path relative to the root ("." for root).
func relPath(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// walkInRoot is the fallback for kernels without openat2: it walks p one
// component at a time with O_PATH|O_NOFOLLOW, expands symlinks itself
// relative to root, and handles ".." with its own stack of directory fds
// (never the kernel's ".."), so neither a symlink nor a directory renamed
// mid-walk can take it above root.
func walkInRoot(root int, p string, noSymlinks bool) (int, error) {
	var stack []int // open directories below root, innermost last
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	fail := func(err error) (int, error) {
		return -1, &os.PathError{Op: "resolve", Path: p, Err: err}
	}
	rest := splitPath(p)
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case ".":
			continue
		case "..":
			if n := len(stack); n > 0 {
				unix.Close(stack[n-1])
				stack = stack[:n-1]
			}
			continue
		}
		cur := root
		if n := len(stack); n > 0 {
			cur = stack[n-1]
		}
		fd, err := unix.Openat(cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fail(err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := readlinkFd(fd)
			unix.Close(fd)
			if err != nil {
				return fail(err)
			}
			if links++; noSymlinks || links > maxSymlinks {
				return fail(unix.ELOOP)
			}
			if strings.HasPrefix(target, "/") {
				for _, d := range stack {
					unix.Close(d)
				}
				stack = stack[:0]
			}
			rest = append(splitPath(target), rest...)
			continue
		case unix.S_IFDIR:
		default:
			if len(rest) > 0 {
				unix.Close(fd)
				return fail(unix.ENOTDIR)
			}
		}
		stack = append(stack, fd)
	}
	if n := len(stack); n > 0 {
		fd := stack[n-1]
		stack = stack[:n-1]
		return fd, nil
	}
	fd, err := unix.FcntlInt(uintptr(root), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	return fd, nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// readlinkFd reads the target of the symlink an O_PATH fd refers to.
func readlinkFd(fd int) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}

// ensureInRoot resolves p inside root like resolveInRoot and, when it does
// not exist and create is set, creates it (a directory when dir is set,
// else an empty file) and its missing parents, each step relative to an
// already-resolved parent fd. A dangling symlink on the way is followed
// inside the root (its target is created there) unless noSymlinks. The
// result is checked to be a directory or a non-directory as asked.
func ensureInRoot(root int, p string, dir, create, noSymlinks bool) (int, error) {
	return ensure(root, p, dir, create, noSymlinks, 0)
}

func ensure(root int, p string, dir, create, noSymlinks bool, depth int) (int, error) {
	fd, err := resolveInRoot(root, p, noSymlinks)
	if errors.Is(err, unix.ENOENT) && create {
		fd, err = createInRoot(root, p, dir, noSymlinks, depth)
	}
	if err != nil {
		return -1, err
	}
	if err := checkKind(fd, p, dir); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func createInRoot(root int, p string, dir, noSymlinks bool, depth int) (int, error) {
	clean := path.Clean("/" + p)
	parent, base := path.Split(clean)
	if base == "" {
		return -1, &os.PathError{Op: "create", Path: p, Err: unix.EEXIST}
	}
	pfd, err := ensure(root, parent, true, true, noSymlinks, depth)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if dir {
		err = unix.Mkdirat(pfd, base, 0o755)
	} else {
		var f int
		f, err = unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		}
	}
	if err != nil && err != unix.EEXIST {
		return -1, &os.PathError{Op: "create", Path: p, Err: err}
	}
	// O_NOFOLLOW: what is there now is what we check and return.
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK || noSymlinks {
		return fd, nil // checkKind refuses a symlink here
	}
	// A dangling symlink: create its target, interpreted inside the root.
	target, err := readlinkFd(fd)
	unix.Close(fd)
	if err != nil {
		return -1, &os.PathError{Op: "readlink", Path: p, Err: err}
	}
	if depth++; depth > maxSymlinks {
		return -1, &os.PathError{Op: "create", Path: p, Err: unix.ELOOP}
	}
	if !strings.HasPrefix(target, "/") {
		target = path.Join(parent, target)
	}
	return ensure(root, target, dir, true, noSymlinks, depth)
}

// checkKind verifies fd is a directory (dir) or a non-directory that is not
// a symlink.
func checkKind(fd int, p string, dir bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	switch typ := st.Mode & unix.S_IFMT; {
	case typ == unix.S_IFLNK:
		return &os.PathError{Op: "check", Path: p, Err: unix.ELOOP}
	case dir && typ != unix.S_IFDIR:
		return &os.PathError{Op: "check", Path: p, Err: unix.ENOTDIR}
	case !dir && typ == unix.S_IFDIR:
		return &os.PathError{Op: "check", Path: p, Err: unix.EISDIR}
	}
	return nil
}
