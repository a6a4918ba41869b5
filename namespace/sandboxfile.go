package namespace

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSandboxFile bounds every file the init reads from the sandbox's root
// (e.g. /etc/passwd for Credential.User): that root may be hostile.
const maxSandboxFile = 1 << 20

// FileError reports a file in the sandbox's root that the init refused to
// read: not a regular file (a symlink to /dev/zero, a FIFO, a device), or
// larger than the limit. It is the cause in a *StepError.
type FileError struct {
	Path   string
	Reason string
}

func (e *FileError) Error() string {
	return fmt.Sprintf("namespace: %s: %s", e.Path, e.Reason)
}

// readSandboxFile reads p, resolved inside the current root (symlinks and
// ".." cannot leave it, no /proc magic links), only when it is a regular
// file of at most limit bytes. It checks with an O_PATH fd first (no open
// of a device or FIFO ever reaches a driver), then opens the file
// non-blocking and verifies it is the same inode.
func readSandboxFile(p string, limit int64) ([]byte, error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(root)
	rel := strings.TrimLeft(filepath.Clean("/"+p), "/")
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	pfd, err := unix.Openat2(root, rel, &how)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(pfd)
	var before unix.Stat_t
	if err := unix.Fstat(pfd, &before); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if err := checkRegular(p, &before, limit); err != nil {
		return nil, err
	}
	how.Flags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat2(root, rel, &how)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Dev != before.Dev || st.Ino != before.Ino {
		return nil, &FileError{Path: p, Reason: "replaced while being opened"}
	}
	if err := checkRegular(p, &st, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: p, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, &FileError{Path: p, Reason: fmt.Sprintf("larger than %d bytes", limit)}
	}
	return b, nil
}

func checkRegular(p string, st *unix.Stat_t, limit int64) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &FileError{Path: p, Reason: fmt.Sprintf("not a regular file (mode %#o)", st.Mode&unix.S_IFMT)}
	}
	if st.Size > limit {
		return &FileError{Path: p, Reason: fmt.Sprintf("%d bytes, larger than %d", st.Size, limit)}
	}
	return nil
}
