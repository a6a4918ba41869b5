package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/seccomp"
)

// answer decides one openat(dirfd, path, flags, mode).
func answer(l *seccomp.Listener, n *seccomp.Notif) error {
	path, err := readPath(n.Pid, n.Args[1])
	// Only a still-pending notification proves that pid was the caller
	// while we read its memory; after this check the path may be trusted
	// as what the caller passed (though not as what it passes next).
	if !l.IDValid(n.ID) {
		fmt.Printf("supervisor: notification %d is gone (caller died or was interrupted)\n", n.ID)
		return nil
	}
	if err != nil {
		fmt.Printf("supervisor: openat by pid %d: reading path: %v; letting it fail with EFAULT\n", n.Pid, err)
		return ignoreGone(l.Respond(seccomp.Response{ID: n.ID, Errno: unix.EFAULT}))
	}
	switch path {
	case greetingPath:
		fd, err := injectGreeting(l, n)
		if err != nil {
			return ignoreGone(err)
		}
		fmt.Printf("supervisor: openat(%q) by pid %d: injected a sealed memfd, the call returns fd %d\n", path, n.Pid, fd)
		return nil
	case secretPath:
		fmt.Printf("supervisor: openat(%q) by pid %d: denied with EACCES\n", path, n.Pid)
		return ignoreGone(l.Respond(seccomp.Response{ID: n.ID, Errno: unix.EACCES}))
	default:
		fmt.Printf("supervisor: openat(%q) by pid %d: let the kernel run it\n", path, n.Pid)
		return ignoreGone(l.Respond(seccomp.Response{ID: n.ID, Flags: seccomp.FlagContinue}))
	}
}

// injectGreeting installs a memfd holding the greeting in the caller and
// answers the openat with its number in one step (ADDFD_FLAG_SEND).
func injectGreeting(l *seccomp.Listener, n *seccomp.Notif) (int, error) {
	fd, err := unix.MemfdCreate("confine-greeting", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("creating memfd: %w", err)
	}
	defer unix.Close(fd)
	// pwrite keeps the shared file offset at 0 for the child's reads.
	if _, err := unix.Pwrite(fd, []byte(greeting), 0); err != nil {
		return -1, fmt.Errorf("writing memfd: %w", err)
	}
	// The child gets an O_RDWR file description: seals make it read-only.
	seals := unix.F_SEAL_WRITE | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return -1, fmt.Errorf("sealing memfd: %w", err)
	}
	return l.AddFD(seccomp.AddFDRequest{
		ID:         n.ID,
		SrcFD:      fd,
		Flags:      seccomp.AddFDSend,
		NewFDFlags: uint32(n.Args[2] & unix.O_CLOEXEC), // as the caller asked
	})
}

// ignoreGone treats a caller that vanished before the answer as normal.
func ignoreGone(err error) error {
	if errors.Is(err, unix.ENOENT) {
		fmt.Println("supervisor: the caller went away before the answer")
		return nil
	}
	return err
}

// readPath reads the NUL-terminated string at addr in process pid,
// page by page so a string ending just before an unmapped page is read.
func readPath(pid uint32, addr uint64) (string, error) {
	mem, err := os.Open("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/mem")
	if err != nil {
		return "", err
	}
	defer mem.Close()
	var path []byte
	for len(path) < unix.PathMax {
		chunk := make([]byte, 4096-(addr+uint64(len(path)))%4096)
		n, err := mem.ReadAt(chunk, int64(addr)+int64(len(path)))
		if i := bytes.IndexByte(chunk[:n], 0); i >= 0 {
			return string(append(path, chunk[:i]...)), nil
		}
		if err != nil {
			return "", fmt.Errorf("reading memory of pid %d at %#x: %w", pid, addr, err)
		}
		path = append(path, chunk[:n]...)
	}
	return "", fmt.Errorf("path at %#x in pid %d: longer than PATH_MAX", addr, pid)
}
