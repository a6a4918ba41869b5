package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// initPath is where --init puts confine's own binary inside a --rootfs
// sandbox (on the minimal /dev tmpfs, so a read-only root needs no hole).
const initPath = "/dev/.confine-init"

// initSubcommand is the hidden argument that makes confine the sandbox's
// PID 1 (--init, like docker's tini).
const initSubcommand = "__init"

// forwarded are the signals the init passes on to the command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT, syscall.SIGALRM}

// initCommand runs as PID 1 of the sandbox: it starts the command as PID 2,
// forwards signals to it, reaps every orphan, and exits with the command's
// status, 128+N when signal N killed it. Without it the command is PID 1,
// which the kernel protects from signals it has no handler for (even a
// SIGKILL it sends itself).
func initCommand(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "confine init: no command")
		return exitConfine
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "confine: %v\n", err)
		if errors.Is(err, os.ErrPermission) {
			return exitNotExecutable
		}
		return exitNotFound
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	p, err := os.StartProcess(path, args, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		fmt.Fprintf(stderr, "confine: %v\n", err)
		if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.ENOEXEC) {
			return exitNotExecutable
		}
		return exitNotFound
	}
	go func() {
		for s := range sigs {
			_ = p.Signal(s)
		}
	}()
	return reap(p.Pid)
}

// reap waits for every child (orphans are reparented to PID 1) until the
// command itself exits, and returns its shell-style status.
func reap(child int) int {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return exitConfine
		}
		if pid != child {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}
