package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/seccomp"
)

// listenerFD is where the child finds its end of the socketpair
// (exec.Cmd.ExtraFiles[0]).
const listenerFD = 3

// runChild is the sandboxed side: it puts openat under the supervisor,
// hands over the listener and opens the demo paths.
func runChild() int {
	p := &seccomp.Profile{
		DefaultAction: seccomp.NameActAllow,
		Syscalls:      []seccomp.Syscall{{Names: []string{"openat"}, Action: seccomp.NameActNotify}},
	}
	prog, _, err := seccomp.CompileProfile(p, seccomp.Target{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: compiling filter:", err)
		return 2
	}
	// A Go program has many threads: TSYNC filters them all, and
	// TSYNC_ESRCH is what the kernel needs to combine it with a listener.
	l, err := seccomp.Load(prog, seccomp.LoadOptions{Flags: seccomp.FlagTSYNC | seccomp.FlagTSYNCESRCH | seccomp.FlagNewListener})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: loading filter:", err)
		return 2
	}
	err = unix.Sendmsg(listenerFD, []byte{0}, unix.UnixRights(l.FD()), nil, 0)
	// The child must not keep the listener: it could answer itself.
	l.Close()
	unix.Close(listenerFD)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: sending listener:", err)
		return 2
	}
	for _, path := range []string{greetingPath, secretPath, "/dev/null"} {
		fmt.Printf("child: %s: %s\n", path, tryOpen(path))
	}
	return 0
}

// tryOpen opens path and says what happened.
func tryOpen(path string) string {
	f, err := os.Open(path)
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return fmt.Sprintf("open failed: %s (%v)", unix.ErrnoName(errno), errno)
		}
		return "open failed: " + err.Error()
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return fmt.Sprintf("opened as fd %d, read failed: %v", f.Fd(), err)
	}
	return fmt.Sprintf("opened as fd %d, read %q", f.Fd(), b)
}
