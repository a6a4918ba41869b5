package main

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/confinelab/confine/cgroup"
)

// cmdPs is runc's ps: the host PIDs of every process in the container's
// cgroup tree, as a JSON array (--format json, what go-runc's Ps reads) or
// as the host's ps(1) table filtered to them (the default; the arguments
// after ID go to ps, "-ef" when none, which go-runc's Top parses).
func (rt *runtime) cmdPs(args []string) (int, error) {
	fs := rt.newFlags("ps")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "table or json")
	// Flag parsing stops at ID: what follows is ps(1)'s.
	rest, err := parseArgs(fs, args, -1, "[--format table|json] ID [PS_ARGS...]")
	if err != nil {
		return 0, err
	}
	if *format != "table" && *format != "json" {
		return 0, &UsageError{Msg: fmt.Sprintf("ps --format %q: table or json", *format)}
	}
	pids, err := rt.processes(rest[0])
	if err != nil {
		return 0, err
	}
	if *format == "json" {
		return 0, rt.printJSON(pids, false)
	}
	var psArgs []string
	for _, a := range rest[1:] {
		if a != "" { // go-runc's Top passes "" when given no options
			psArgs = append(psArgs, a)
		}
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ps %s: %w: %s", strings.Join(psArgs, " "), err, out)
	}
	table, err := filterPs(string(out), pids)
	if err != nil {
		return 0, err
	}
	_, err = fmt.Fprint(rt.stdout, table)
	return 0, err
}

// processes lists the container's processes (the cgroup's whole tree).
func (rt *runtime) processes(id string) ([]int, error) {
	d, r, err := rt.open(id)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	cg, err := cgroup.Open(r.CgroupPath)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	defer cg.Close()
	pids, err := cg.AllProcesses()
	if pids == nil && err == nil {
		pids = []int{}
	}
	return pids, err
}

// filterPs keeps ps(1)'s header and the lines whose PID column is one of
// pids.
func filterPs(out string, pids []int) (string, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	col := slices.Index(strings.Fields(lines[0]), "PID")
	if col < 0 {
		return "", errors.New("ps output has no PID column")
	}
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= col {
			continue
		}
		pid, err := strconv.Atoi(f[col])
		if err != nil {
			return "", fmt.Errorf("ps output: PID %q: %w", f[col], err)
		}
		if slices.Contains(pids, pid) {
			b.WriteString(l + "\n")
		}
	}
	return b.String(), nil
}
