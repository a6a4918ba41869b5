package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printRunHelp lists the flags grouped like `docker run --help`, each with
// its argument, units and default.
func printRunHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: confine run [FLAGS] [--] COMMAND [ARG...]

Run COMMAND in new PID, IPC, mount, UTS, cgroup and (unless --network
says otherwise) network namespaces, in its own cgroup and its own session,
with docker's default capabilities and seccomp profile. COMMAND without a
slash is looked up in the sandbox's PATH.

Without --rootfs the command sees the host's root READ-ONLY, with a fresh
minimal /dev and private tmpfs on /tmp, /run, /var/tmp and /dev/shm: it can
write only where -v or --tmpfs say. /sys is always read-only. The sandbox
dies with confine (SIGKILL to its PID 1 when confine ends, however it ends).
`)
	for _, g := range helpGroups {
		fmt.Fprintf(w, "\n%s:\n", g)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, f := range runFlags {
			if f.group != g {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\n", flagUsage(f), flagHelp(f))
		}
		_ = tw.Flush()
	}
	fmt.Fprint(w, `
Exit status: the command's own; 128+N if a signal N killed it; 137 with
"confine: killed by the OOM killer (memory limit SIZE)" when OOM-killed;
125 when confine itself fails (bad flag, a limit this host cannot honour);
126 when COMMAND cannot be executed; 127 when it is not found.
Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 are forwarded to the
command; a second SIGINT or SIGTERM kills the whole sandbox.
`)
}

func flagUsage(f flagDef) string {
	var b strings.Builder
	if f.short != "" {
		fmt.Fprintf(&b, "-%s, ", f.short)
	} else {
		b.WriteString("    ")
	}
	b.WriteString("--" + f.long)
	if f.arg != "" {
		b.WriteString(" " + f.arg)
	}
	return b.String()
}

func flagHelp(f flagDef) string {
	h := f.help
	if f.repeat {
		h += "; repeatable"
	}
	if f.def != "" {
		h += " (default " + f.def + ")"
	}
	return h
}
