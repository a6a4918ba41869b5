// Command confine is a docker-run-compatible sandbox launcher built on the
// confine library: `confine run` starts a command in new PID, IPC, mount,
// UTS and network namespaces behind a private (optionally read-only) root,
// with docker's default capabilities and seccomp profile, in its own cgroup
// v2 with the memory, CPU, pids, IO, device and network bandwidth limits
// the flags ask for, and exits with the command's status (docker's 125,
// 126, 127 and 137 conventions included).
//
// Run it as root on a cgroup v2 host:
//
//	go build -o confine ./examples/confine
//	sudo ./confine run --memory 64m --cpus 0.5 --read-only --stats -- sh -c 'echo hello from $(hostname)'
//	sudo ./confine run --help      # every flag, grouped, with units and defaults
//	sudo ./confine gc              # remove cgroups and pins left by runs that were SIGKILLed
//
// On a hybrid host (controllers bound to cgroup v1) the flags needing those
// controllers are refused with exit 125 naming the flag; everything else
// works. `make demo` runs a tour inside the test bed's VM, where every
// controller exists.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/namespace"
)

func main() {
	namespace.Init() // the sandbox's init re-executes this binary
	os.Exit(run(os.Args[1:]))
}

const usage = `Usage: confine COMMAND

Commands:
  run [FLAGS] [--] COMMAND [ARG...]   run a command in a sandbox (see confine run --help)
  gc [--cgroup-parent PATH]           remove cgroups and pins left behind by dead confine runs
`

// run is the whole CLI: it dispatches the subcommand and returns the exit
// status. Tests call it in-process through a registered helper.
func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitConfine
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], os.Stdout, os.Stderr)
	case "gc":
		return gcCommand(args[1:], os.Stdout, os.Stderr)
	case initSubcommand:
		return initCommand(args[1:], os.Stderr)
	case "demo":
		return demoCommand(args[1:], os.Stdout, os.Stderr)
	case "help", "-h", "--help":
		fmt.Fprint(os.Stdout, usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "confine: %q: unknown command\n%s", args[0], usage)
	return exitConfine
}

const gcUsage = `Usage: confine gc [--cgroup-parent PATH]

Remove the cgroups (and their pinned BPF programs) left by confine runs
whose confine process is gone, e.g. killed with SIGKILL. A live run's
cgroup is never touched (it is locked while confine runs). Then remove
the pinned BPF objects (bandwidth limiter, device program) of every
cgroup that no longer exists (removed by something other than confine,
e.g. a harness's rmdir), wherever its parent was.
`

// gcCommand implements `confine gc`.
func gcCommand(args []string, stdout, stderr io.Writer) int {
	parent := ""
	switch {
	case len(args) == 1 && (args[0] == "--help" || args[0] == "-h"):
		fmt.Fprint(stdout, gcUsage)
		return 0
	case len(args) == 0:
	case len(args) == 2 && args[0] == "--cgroup-parent":
		parent = args[1]
	case len(args) == 1 && len(args[0]) > len("--cgroup-parent=") && args[0][:16] == "--cgroup-parent=":
		parent = args[0][16:]
	default:
		fmt.Fprintf(stderr, "confine: gc: usage: confine gc [--cgroup-parent PATH]\n")
		return exitConfine
	}
	if parent != "" {
		if err := checkCgroupParent(parent); err != nil {
			return fail(stderr, &FlagError{Flag: "--cgroup-parent", Value: parent, Reason: err.Error()})
		}
	}
	h, err := cgroup.Detect()
	if err != nil {
		return fail(stderr, fmt.Errorf("finding the cgroup v2 hierarchy: %w", err))
	}
	removed, err := gc(h, parent)
	for _, p := range removed {
		fmt.Fprintf(stdout, "removed %s\n", p)
	}
	// After gc: a run it removed has already released its pins properly.
	unpinned, serr := cgroup.SweepPins()
	for _, p := range unpinned {
		fmt.Fprintf(stdout, "unpinned %s\n", p)
	}
	if err := errors.Join(err, serr); err != nil {
		return fail(stderr, err)
	}
	return 0
}
