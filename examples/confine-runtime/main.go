// Command confine-runtime is an OCI runtime (runtime-spec v1.2) with runc's
// command line, made of confine's packages: config.json is converted to a
// namespace.Cmd (namespaces, mount.Root, credentials, capabilities,
// rlimits, seccomp) and cgroup.Resources (cgroup.FromOCI), and the
// create/start split is namespace.Gate: create leaves the container's
// init waiting right before exec, start releases it from another process.
// The state directory (--root, default /run/confine-runtime) is all this
// example adds of its own.
//
// Nothing of a container outlives the runtime process that made it unless
// it was handed over on purpose: create records the cgroup before making
// it and the init's pid before handing the init over (Cmd.Detach; until
// then the init has a parent-death signal), so a create killed at any
// point leaves at most what delete --force removes; `run` without
// --detach keeps the signal, and its container dies with it.
//
// It shows what an engine such as containerd (through go-runc and its runc
// shim) needs from a runtime, and how little glue the library leaves to
// write. Build and run it as root, with a bundle (a rootfs directory and a
// config.json, e.g. from `confine-runtime spec`):
//
//	CGO_ENABLED=0 go build -o confine-runtime ./examples/confine-runtime
//	mkdir -p bundle/rootfs && cp -a /path/to/busybox-rootfs/. bundle/rootfs/
//	cd bundle && ../confine-runtime spec && sed -i 's/"terminal": true/"terminal": false/' config.json
//	../confine-runtime run demo                    # create + start + wait + delete
//	../confine-runtime create demo && ../confine-runtime state demo
//	../confine-runtime start demo && ../confine-runtime delete --force demo
//
// Resources needing the cpu, memory, io or pids controllers need a pure
// cgroup v2 host (see `make vmexec` for the VM the tests use); on a hybrid
// host they fail with a clear error naming the controller.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/confinelab/confine/namespace"
)

func main() {
	namespace.Init()
	os.Exit(runtimeMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runtime holds the global flags.
type runtime struct {
	root      string
	log       io.Writer // the --log file, or nil
	logJSON   bool
	debug     bool
	stdout    io.Writer
	stderr    io.Writer
	logCloser io.Closer
}

const version = "0.1.0"

// runtimeMain parses the global flags and runs one subcommand; it returns
// the exit status (1 on any runtime error, as runc).
func runtimeMain(args []string, stdout, stderr io.Writer) int {
	rt := &runtime{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("confine-runtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&rt.root, "root", "/run/confine-runtime", "state directory")
	logPath := fs.String("log", "", "log file (default: stderr only)")
	logFormat := fs.String("log-format", "text", "text or json")
	fs.BoolVar(&rt.debug, "debug", false, "log debug messages")
	systemd := fs.Bool("systemd-cgroup", false, "not supported")
	rootless := fs.String("rootless", "auto", "not supported: only auto or false")
	showVersion := fs.Bool("version", false, "print the version")
	fs.Bool("v", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion || fs.Lookup("v").Value.String() == "true" {
		printVersion(stdout)
		return 0
	}
	if err := rt.openLog(*logPath, *logFormat); err != nil {
		fmt.Fprintf(stderr, "confine-runtime: %v\n", err)
		return 1
	}
	defer rt.closeLog()
	var err error
	switch {
	case *systemd:
		err = &UnsupportedError{Field: "--systemd-cgroup", Value: "true", Reason: "cgroups are managed directly (cgroupfs); give linux.cgroupsPath as a path"}
	case *rootless != "auto" && *rootless != "false":
		err = &UnsupportedError{Field: "--rootless", Value: *rootless, Reason: "confine-runtime runs as root"}
	case fs.NArg() == 0:
		err = &UsageError{Msg: "no command given; commands: create start state kill delete run list spec features pause resume ps events update"}
	default:
		var code int
		code, err = rt.dispatch(fs.Arg(0), fs.Args()[1:])
		if err == nil {
			return code
		}
	}
	rt.errorf("%v", err)
	var ue *UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func printVersion(w io.Writer) {
	// go-runc's Version reads these "key: value" lines.
	fmt.Fprintf(w, "confine-runtime version %s\ncommit: none\nspec: 1.2.0\n", version)
}

// dispatch runs one subcommand.
func (rt *runtime) dispatch(name string, args []string) (int, error) {
	cmds := map[string]func([]string) (int, error){
		"create": rt.cmdCreate, "run": rt.cmdRun, "start": rt.cmdStart,
		"state": rt.cmdState, "kill": rt.cmdKill, "delete": rt.cmdDelete,
		"list": rt.cmdList, "spec": rt.cmdSpec, "features": rt.cmdFeatures,
		"exec":  rt.cmdExec,
		"pause": rt.cmdPause, "resume": rt.cmdResume, "ps": rt.cmdPs, "events": rt.cmdEvents, "update": rt.cmdUpdate,
	}
	f, ok := cmds[name]
	if !ok {
		return 0, &UsageError{Msg: fmt.Sprintf("unknown command %q", name)}
	}
	return f(args)
}

// newFlags makes a subcommand's flag set; its errors go to stderr.
func (rt *runtime) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(rt.stderr)
	return fs
}

// parseArgs parses flags and wants exactly n positional arguments (n < 0:
// at least -n).
func parseArgs(fs *flag.FlagSet, args []string, n int, usage string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, &UsageError{Msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	rest := fs.Args()
	if (n >= 0 && len(rest) != n) || (n < 0 && len(rest) < -n) {
		return nil, &UsageError{Msg: "usage: confine-runtime " + fs.Name() + " " + usage}
	}
	return rest, nil
}

func (rt *runtime) createFlags(name string, o *createOptions) *flag.FlagSet {
	fs := rt.newFlags(name)
	fs.StringVar(&o.bundle, "bundle", ".", "bundle directory")
	fs.StringVar(&o.bundle, "b", ".", "bundle directory")
	fs.StringVar(&o.pidFile, "pid-file", "", "write the container's pid here")
	fs.StringVar(&o.consoleSocket, "console-socket", "", "unix socket receiving the pty master")
	fs.BoolVar(&o.noPivot, "no-pivot", false, "not supported")
	fs.BoolVar(&o.noNewKeyring, "no-new-keyring", false, "no new session keyring (always the case)")
	fs.IntVar(&o.preserveFDs, "preserve-fds", 0, "pass fds 3..3+N-1 on")
	return fs
}

func (rt *runtime) cmdCreate(args []string) (int, error) {
	var o createOptions
	rest, err := parseArgs(rt.createFlags("create", &o), args, 1, "[flags] ID")
	if err != nil {
		return 0, err
	}
	if o.preserveFDs < 0 {
		return 0, &UsageError{Msg: "--preserve-fds must be >= 0"}
	}
	c, err := rt.create(rest[0], o)
	if err != nil {
		return 0, err
	}
	defer c.dir.Close()
	return 0, c.handOver(rt, o)
}

func (rt *runtime) cmdRun(args []string) (int, error) {
	var o createOptions
	fs := rt.createFlags("run", &o)
	detach := fs.Bool("detach", false, "do not wait for the process")
	fs.BoolVar(detach, "d", false, "do not wait for the process")
	rest, err := parseArgs(fs, args, 1, "[flags] ID")
	if err != nil {
		return 0, err
	}
	return rt.run(rest[0], o, *detach)
}

func (rt *runtime) cmdStart(args []string) (int, error) {
	rest, err := parseArgs(rt.newFlags("start"), args, 1, "ID")
	if err != nil {
		return 0, err
	}
	return 0, rt.startContainer(rest[0])
}

func (rt *runtime) cmdState(args []string) (int, error) {
	rest, err := parseArgs(rt.newFlags("state"), args, 1, "ID")
	if err != nil {
		return 0, err
	}
	if err := checkID(rest[0]); err != nil {
		return 0, err
	}
	dir := rt.root + "/" + rest[0]
	r, err := readRecord(dir)
	if err != nil {
		return 0, fmt.Errorf("container %s does not exist", rest[0])
	}
	return 0, rt.printJSON(r.state(dir), true)
}

func (rt *runtime) cmdKill(args []string) (int, error) {
	fs := rt.newFlags("kill")
	all := fs.Bool("all", false, "signal every process of the container")
	fs.BoolVar(all, "a", false, "signal every process of the container")
	rest, err := parseArgs(fs, args, -1, "[--all] ID [SIGNAL]")
	if err != nil {
		return 0, err
	}
	sig := "SIGTERM"
	switch len(rest) {
	case 1:
	case 2:
		sig = rest[1]
	default:
		return 0, &UsageError{Msg: "usage: confine-runtime kill [--all] ID [SIGNAL]"}
	}
	return 0, rt.kill(rest[0], sig, *all)
}

func (rt *runtime) cmdDelete(args []string) (int, error) {
	fs := rt.newFlags("delete")
	force := fs.Bool("force", false, "kill a running container first")
	fs.BoolVar(force, "f", false, "kill a running container first")
	rest, err := parseArgs(fs, args, 1, "[--force] ID")
	if err != nil {
		return 0, err
	}
	return 0, rt.deleteContainer(rest[0], *force)
}

func (rt *runtime) cmdList(args []string) (int, error) {
	fs := rt.newFlags("list")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "table or json")
	quiet := fs.Bool("quiet", false, "ids only")
	fs.BoolVar(quiet, "q", false, "ids only")
	if _, err := parseArgs(fs, args, 0, "[--format table|json] [-q]"); err != nil {
		return 0, err
	}
	states, err := listStates(rt.root)
	if err != nil {
		return 0, err
	}
	switch {
	case *quiet:
		for _, s := range states {
			fmt.Fprintln(rt.stdout, s.ID)
		}
	case *format == "json":
		return 0, rt.printJSON(states, false)
	case *format == "table":
		fmt.Fprintf(rt.stdout, "%-12s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")
		for _, s := range states {
			fmt.Fprintf(rt.stdout, "%-12s %-8d %-10s %-40s %-30s %s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
		}
	default:
		return 0, &UsageError{Msg: fmt.Sprintf("list --format %q: table or json", *format)}
	}
	return 0, nil
}

// listStates reads every container under root; a directory without a
// readable state.json (a create killed early) is skipped.
func listStates(root string) ([]containerState, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return []containerState{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []containerState{}
	for _, e := range ents {
		if !e.IsDir() || checkID(e.Name()) != nil {
			continue
		}
		dir := root + "/" + e.Name()
		if r, err := readRecord(dir); err == nil {
			out = append(out, r.state(dir))
		}
	}
	return out, nil
}

func (rt *runtime) printJSON(v any, indent bool) error {
	enc := json.NewEncoder(rt.stdout)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// openLog opens --log (appending) for errors and warnings.
func (rt *runtime) openLog(path, format string) error {
	switch format {
	case "text":
	case "json":
		rt.logJSON = true
	default:
		return &UsageError{Msg: fmt.Sprintf("--log-format %q: text or json", format)}
	}
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	rt.log, rt.logCloser = f, f
	return nil
}

func (rt *runtime) closeLog() {
	if rt.logCloser != nil {
		rt.logCloser.Close()
	}
}

func (rt *runtime) errorf(format string, args ...any) { rt.logf("error", format, args...) }
func (rt *runtime) warnf(format string, args ...any)  { rt.logf("warning", format, args...) }

// logf writes to stderr and, with --log, to the log file in its format
// (json: one {"level","msg","time"} object per line, which go-runc and
// containerd's shim read back on failure).
func (rt *runtime) logf(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(rt.stderr, "confine-runtime: %s%s\n", map[bool]string{true: "warning: "}[level == "warning"], msg)
	if rt.log == nil {
		return
	}
	if rt.logJSON {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": time.Now().UTC().Format(time.RFC3339Nano)})
		fmt.Fprintf(rt.log, "%s\n", b)
		return
	}
	fmt.Fprintf(rt.log, "time=%q level=%s msg=%q\n", time.Now().UTC().Format(time.RFC3339Nano), level, strings.TrimSpace(msg))
}
