package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/namespace"
)

// The process exec runs: from --process FILE or from the container's own
// process and the inline flags, converted with the container's spec
// around it.

// processSpec is the process to run: --process FILE as it is (runc
// ignores the inline flags then), or the container's process with args
// and the inline flags applied, as runc's exec does.
func (o *execOptions) processSpec(spec *specs.Spec, args []string) (*specs.Process, error) {
	if o.process != "" {
		return readProcess(o.process)
	}
	p := cloneProcess(spec.Process)
	p.Args = args
	if o.cwd != "" {
		p.Cwd = o.cwd
	}
	p.Env = append(p.Env, o.env...)
	p.Terminal = o.tty
	if o.noNewPrivsSet {
		p.NoNewPrivileges = o.noNewPrivs
	}
	if err := o.applyUser(p); err != nil {
		return nil, err
	}
	if len(o.caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		c := p.Capabilities
		c.Bounding = append(c.Bounding, o.caps...)
		c.Effective = append(c.Effective, o.caps...)
		c.Permitted = append(c.Permitted, o.caps...)
		if c.Inheritable != nil {
			c.Ambient = append(c.Ambient, o.caps...)
		}
	}
	return p, nil
}

// applyUser applies --user UID[:GID] and --additional-gids.
func (o *execOptions) applyUser(p *specs.Process) error {
	if o.user != "" {
		us, gs, hasGID := strings.Cut(o.user, ":")
		uid, err := strconv.ParseUint(us, 10, 32)
		if err != nil {
			return &UsageError{Msg: fmt.Sprintf("exec --user %q: UID[:GID], numeric", o.user)}
		}
		p.User.UID = uint32(uid)
		if hasGID {
			gid, err := strconv.ParseUint(gs, 10, 32)
			if err != nil {
				return &UsageError{Msg: fmt.Sprintf("exec --user %q: UID[:GID], numeric", o.user)}
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, g := range o.gids {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return &UsageError{Msg: fmt.Sprintf("exec --additional-gids %q: a numeric gid", g)}
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	return nil
}

// cloneProcess copies the slices exec changes, so the container's spec is
// never modified through them.
func cloneProcess(p *specs.Process) *specs.Process {
	c := *p
	c.Env = append([]string(nil), p.Env...)
	c.User.AdditionalGids = append([]uint32(nil), p.User.AdditionalGids...)
	if p.Capabilities != nil {
		caps := *p.Capabilities
		c.Capabilities = &caps
		for _, s := range []*[]string{&caps.Bounding, &caps.Effective, &caps.Permitted, &caps.Inheritable, &caps.Ambient} {
			if *s != nil {
				*s = append([]string(nil), *s...)
			}
		}
	}
	return &c
}

// maxProcessJSON bounds --process FILE.
const maxProcessJSON = 4 << 20

func readProcess(path string) (*specs.Process, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--process: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProcessJSON+1))
	if err != nil {
		return nil, fmt.Errorf("--process %s: %w", path, err)
	}
	if len(b) > maxProcessJSON {
		return nil, &ConfigError{Field: "process.json", Value: path, Reason: "larger than 4 MiB"}
	}
	var p specs.Process
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, &ConfigError{Field: "process.json", Value: path, Reason: "not valid JSON", Err: err}
	}
	return &p, nil
}

// execPlan converts proc with the container's spec around it: what the
// process leaves out (capabilities, rlimits, umask) is the container's,
// as runc does, and the container's seccomp profile is compiled for the
// process's own capabilities.
func execPlan(spec *specs.Spec, proc *specs.Process) (*plan, error) {
	if proc.Capabilities == nil {
		proc.Capabilities = spec.Process.Capabilities
	}
	if len(proc.Rlimits) == 0 {
		proc.Rlimits = spec.Process.Rlimits
	}
	if proc.User.Umask == nil {
		proc.User.Umask = spec.Process.User.Umask
	}
	s := *spec
	s.Process = proc
	if err := checkUnsupported(&s); err != nil {
		return nil, err
	}
	p := &plan{cmd: &namespace.Cmd{}, umask: -1}
	if err := convertProcess(&s, p); err != nil {
		return nil, err
	}
	// noNewPrivileges false holds for exec as for create (convertProcess):
	// the exec'd process loads the container's filter while it still has
	// CAP_SYS_ADMIN, as runc's does, and drops it right after with
	// capset(2), which the profile must allow (Docker's default does).
	if err := convertSeccomp(&s, p); err != nil {
		return nil, err
	}
	return p, nil
}
