package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/seccomp"
)

// options is a parsed `confine run` command line. Values are validated as
// they are read; finish checks what depends on several flags.
type options struct {
	rootfs   string
	readOnly bool
	mounts   []mount.Mount // --tmpfs and -v, in command-line order
	hostname string
	network  string // "none", "host" or "ns"
	netnsPth string // for "ns:PATH"
	user     *namespace.Credential
	env      []string
	workdir  string

	docker       DockerFlags
	egressRate   uint64
	ingressRate  uint64
	cgroupParent string
	devices      []deviceSpec
	// controllers maps each cgroup controller the flags need to the first
	// flag that needs it, so a host that cannot honour it can name the flag.
	controllers map[string]string

	noNewPrivs bool
	// noNewPrivsOff is an explicit no-new-privileges=false: honoured when
	// the seccomp filter does not need no_new_privs, refused otherwise.
	noNewPrivsOff bool
	seccomp       string // "" (built-in default), "unconfined" or a profile path
	// seccompData and seccompProfile are the profile file's bytes and the
	// profile parsed from them (set by finish for a profile path).
	seccompData    []byte
	seccompProfile *seccomp.Profile
	capAdd         []string
	capDrop        []string

	tty         bool
	cgroupnsOff bool // --cgroupns host
	oomScoreAdj int
	defaultName string // the hostname without --hostname, made once

	init    bool
	stats   bool
	help    bool
	command []string

	// Filled by finish.
	resources cgroup.Resources
	// statControllers are enabled (without limits) for --stats.
	statControllers []string
}

func newOptions() *options {
	return &options{network: "none", controllers: map[string]string{}}
}

func (o *options) useController(controller, flag string) {
	if _, ok := o.controllers[controller]; !ok {
		o.controllers[controller] = flag
	}
}

// defaultPath is the PATH a command is looked up in, as docker sets it.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// finish validates what needs more than one flag or the file system, and
// converts the resource flags the way dockerd does.
func (o *options) finish() error {
	if o.rootfs != "" {
		st, err := os.Stat(o.rootfs)
		if err != nil {
			return &FlagError{Flag: "--rootfs", Value: o.rootfs, Reason: errReason(err)}
		}
		if !st.IsDir() {
			return &FlagError{Flag: "--rootfs", Value: o.rootfs, Reason: "not a directory"}
		}
	}
	if o.seccomp != "" && o.seccomp != "unconfined" {
		data, p, err := loadProfile(o.seccomp)
		if err != nil {
			return &FlagError{Flag: "--security-opt", Value: "seccomp=" + o.seccomp, Reason: err.Error()}
		}
		o.seccompData, o.seccompProfile = data, p
	}
	caps, err := o.capSet()
	if err != nil {
		return err
	}
	if o.noNewPrivsOff && o.seccomp != "unconfined" && !caps.Has(namespace.CapSysAdmin) {
		return &FlagError{Flag: "--security-opt", Value: "no-new-privileges=false",
			Reason: "cannot be honoured: loading the seccomp filter without CAP_SYS_ADMIN needs no_new_privs (add seccomp=unconfined or --cap-add SYS_ADMIN)"}
	}
	r, err := o.docker.Resources()
	if err != nil {
		var ie *cgroup.InvalidError
		if errors.As(err, &ie) {
			return &FlagError{Flag: ie.Field, Value: valueString(ie.Value), Reason: ie.Reason}
		}
		return &FlagError{Flag: "resources", Reason: err.Error()}
	}
	if r.Memory != nil && r.Memory.Max > 0 {
		// Kill the whole sandbox on OOM, as Kubernetes does, so the run
		// ends with 137 rather than limping on without the killed child.
		r.Memory.OOMGroup = cgroup.On
	}
	if o.egressRate != 0 || o.ingressRate != 0 {
		r.Network = &cgroup.Network{EgressRate: o.egressRate, IngressRate: o.ingressRate}
	}
	r.Devices = append(cgroup.DefaultDevices(), o.deviceRules()...)
	o.resources = r
	return nil
}

// environ is the command's environment: docker's PATH and HOSTNAME, then
// the -e values (later ones win, as in docker).
func (o *options) environ() []string {
	env := []string{"PATH=" + defaultPath, "HOSTNAME=" + o.effectiveHostname()}
	if o.user == nil || (o.user.User == "" && o.user.UID == 0) {
		env = append(env, "HOME=/root")
	}
	seen := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		seen[k] = i
	}
	for _, kv := range o.env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			env[i] = kv
			continue
		}
		seen[k] = len(env)
		env = append(env, kv)
	}
	return env
}

// effectiveHostname is --hostname or a random name made once per run
// (never the host PID of confine, which would tell the sandbox about the
// host). Unique, not secret: see makeRunCgroup.
func (o *options) effectiveHostname() string {
	if o.hostname != "" {
		return o.hostname
	}
	if o.defaultName == "" {
		o.defaultName = fmt.Sprintf("confine-%012x", rand.Uint64()&(1<<48-1))
	}
	return o.defaultName
}

func valueString(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// errReason is an error's text without the "stat PATH: " prefix the flag
// error already shows.
func errReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
