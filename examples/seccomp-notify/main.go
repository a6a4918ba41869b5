// Command seccomp-notify shows seccomp user notification with package
// seccomp: a supervisor answers one syscall, openat(2), for a child.
//
// The program re-executes itself as the child. The child loads a filter
// that sends every openat to a user-notification listener
// (SECCOMP_FILTER_FLAG_NEW_LISTENER), passes the listener fd to the
// supervisor over a socketpair (SCM_RIGHTS) and then opens three paths.
// For each notification the supervisor reads the path from the child's
// memory (/proc/PID/mem), checks that the notification is still valid
// (the child may have died or been interrupted while it read, and its pid
// could have been reused), and answers:
//
//   - /confine-demo/greeting, which exists nowhere on disk: it injects a
//     sealed memfd holding a greeting into the child and makes openat
//     return it, atomically (SECCOMP_IOCTL_NOTIF_ADDFD with
//     SECCOMP_ADDFD_FLAG_SEND);
//   - /confine-demo/secret: it fails the call with EACCES;
//   - anything else (/dev/null, and whatever the Go runtime opens): it
//     lets the kernel run the call (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//     CONTINUE is fine for a demo but is no security decision: the child
//     can change the path in its memory after the supervisor looked.
//
// The child prints what it got, the supervisor prints every decision, and
// the supervisor stops when the reaped child's listener hangs up
// (Listener.ReceiveContext returns seccomp.ErrNoTargets). Finally it
// reports any fd it left open.
//
// Run it as root (any user works too: the child sets no_new_privs) on
// Linux 5.14 or newer:
//
//	go run ./examples/seccomp-notify
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Paths the supervisor answers specially.
const (
	greetingPath = "/confine-demo/greeting"
	secretPath   = "/confine-demo/secret"
	greeting     = "hello from the supervisor\n"
)

// childEnv marks the re-executed child.
const childEnv = "CONFINE_SECCOMP_NOTIFY_CHILD"

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	timeout := flag.Duration("timeout", 30*time.Second, "give up (and kill the child) after this long")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	warmNetpoller()
	before, err := openFDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "seccomp-notify:", err)
		os.Exit(1)
	}
	if err := runSupervisor(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "seccomp-notify:", err)
		os.Exit(1)
	}
	if err := reportLeaks(before); err != nil {
		fmt.Fprintln(os.Stderr, "seccomp-notify:", err)
		os.Exit(1)
	}
}
