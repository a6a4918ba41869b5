package namespace

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// sealedExe is the file the init is exec'd from, chosen once per process
// so nothing inside the sandbox can reach a writable reference to the host
// binary through /proc/PID/exe (CVE-2019-5736): preferably this binary
// opened through a private read-only overlayfs mount (overlaySelf: no
// copy, the page cache is shared), else a sealed memfd copy of it
// (memfdSelf: works unprivileged and without overlayfs, but copies the
// whole binary).
type sealedExe struct {
	fd   int
	kind string // exeOverlay or exeMemfd
}

const (
	exeOverlay = "overlay"
	exeMemfd   = "memfd"
)

var sealedSelf = sync.OnceValues(func() (*sealedExe, error) {
	if fd, err := overlaySelf(); err == nil {
		return &sealedExe{fd: fd, kind: exeOverlay}, nil
	}
	return memfdSelf()
})

// initExe is what spawn execs; tests replace it to exercise one method.
var initExe = sealedSelf

// memfdSelf copies this binary into a memfd sealed against writes: a
// private memory file, not the file on disk.
func memfdSelf() (*sealedExe, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("namespace: opening own binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("confine-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("namespace: memfd_create: %w", err)
	}
	dst := os.NewFile(uintptr(fd), "confine-init")
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return nil, fmt.Errorf("namespace: copying own binary to memfd: %w", err)
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return nil, fmt.Errorf("namespace: sealing memfd: %w", err)
	}
	// Keep the fd for the life of the process; dup it so dst's finalizer
	// cannot close the number we hand out.
	keep, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	dst.Close()
	if err != nil {
		return nil, fmt.Errorf("namespace: dup memfd: %w", err)
	}
	return &sealedExe{fd: keep, kind: exeMemfd}, nil
}

// execPath returns a /proc/self/fd path the forked child can exec. The
// child moves its files onto fds 0..minFD-1 before exec, so the fd must
// sit at or above minFD; when it does not, a temporary duplicate does and
// release closes it.
func (s *sealedExe) execPath(minFD int) (string, func(), error) {
	if s.fd >= minFD {
		return "/proc/self/fd/" + strconv.Itoa(s.fd), func() {}, nil
	}
	fd, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, minFD)
	if err != nil {
		return "", nil, fmt.Errorf("namespace: dup init binary fd above fd %d: %w", minFD, err)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd), func() { unix.Close(fd) }, nil
}
