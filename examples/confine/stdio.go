package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The sandbox's stdio. A file confine hands to the command as is is a host
// inode the command reaches through /proc/self/fd, and a command with
// Docker's capabilities (CAP_FOWNER, CAP_FSETID) could chmod it: a
// regular file confine's output was redirected to would become a setuid
// executable of the sandbox's making. docker run never hands its
// container the caller's files: it copies. confine does the same for
// every file that is not a pipe, a socket or a device (the namespace
// package reopens devices read-only).

// copied is a stdio file the command gets through a pipe that confine
// copies, never the file itself (it is not an *os.File).
type copied struct{ f *os.File }

func (c copied) Read(p []byte) (int, error)  { return c.f.Read(p) }
func (c copied) Write(p []byte) (int, error) { return c.f.Write(p) }

// passable reports whether the command may get f itself: a pipe, a socket
// or a device. closed: f is not an open file (confine started without
// it), and the command gets /dev/null.
func passable(f *os.File) (ok, closed bool) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, true
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFSOCK:
		return true, false
	case unix.S_IFIFO: // an anonymous pipe; a named one is a host inode
		var fs unix.Statfs_t
		return unix.Fstatfs(int(f.Fd()), &fs) == nil && fs.Type == unix.PIPEFS_MAGIC, false
	}
	return false, false
}

// sameFile reports whether a and b are one file (2>&1).
func sameFile(a, b *os.File) bool {
	var sa, sb unix.Stat_t
	return unix.Fstat(int(a.Fd()), &sa) == nil && unix.Fstat(int(b.Fd()), &sb) == nil &&
		sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// sandboxStdio returns the command's stdin, stdout and stderr for
// confine's own: each as is when passable, else copied (stdout and
// stderr through one pipe when they are one file, so that their order
// holds), nil for one confine lacks.
func sandboxStdio(in, out, errf *os.File) (io.Reader, io.Writer, io.Writer) {
	var r io.Reader
	var w, e io.Writer
	if ok, closed := passable(in); ok {
		r = in
	} else if !closed {
		r = copied{in}
	}
	okOut, closedOut := passable(out)
	okErr, closedErr := passable(errf)
	switch {
	case okOut:
		w = out
	case !closedOut:
		w = copied{out}
	}
	switch {
	case okErr:
		e = errf
	case closedErr:
	case !closedOut && !okOut && sameFile(out, errf):
		e = w // the same copied value: one pipe
	default:
		e = copied{errf}
	}
	return r, w, e
}
