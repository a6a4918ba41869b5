package testutil

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const socketHelper = "testutil-socket"

func init() { helpers[socketHelper] = helperSocket }

// helperSocket opens a UDP socket, prints its fd and waits for stdin to
// close.
func helperSocket([]string) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(fd)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// SocketFrom returns a UDP socket created by a process in the cgroup at
// cg, which has exited since (pidfd_getfd, Linux 5.6; skips without it).
// The socket keeps the cgroup, once removed, dying rather than released
// until the caller closes it. The package's TestMain must call
// RunHelperIfAsked.
func SocketFrom(t testing.TB, cg string) int {
	t.Helper()
	cgfd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cgfd)
	cmd := HelperCommand(t, socketHelper)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	var fd int
	if _, err := fmt.Fscan(out, &fd); err != nil {
		t.Fatalf("reading the helper's socket fd: %v", err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	sock, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		Skip(t, "pidfd_getfd: %v", err)
	}
	return sock
}
