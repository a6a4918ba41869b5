package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
)

// UpdateError is a value `update` refuses before changing anything: the
// flag (or --resources) as given, its value and why.
type UpdateError struct {
	Field  string
	Value  string
	Reason string
	Err    error
}

func (e *UpdateError) Error() string {
	msg := fmt.Sprintf("update: %s: %q: %s", e.Field, e.Value, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UpdateError) Unwrap() error { return e.Err }

// updateFlags are runc update's flags, each a string so that "set" and
// "0" differ; the realtime, kernel-memory and Intel RDT ones are accepted
// so that their use gets a clear refusal rather than a usage error.
var updateFlags = []string{"blkio-weight", "cpu-period", "cpu-quota", "cpu-burst", "cpu-share",
	"cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "cpu-idle", "memory",
	"memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp", "pids-limit",
	"l3-cache-schema", "mem-bw-schema"}

func (rt *runtime) cmdUpdate(args []string) (int, error) {
	fs := rt.newFlags("update")
	resources := fs.String("resources", "", "JSON LinuxResources file, or - for stdin (the other flags are then ignored)")
	fs.StringVar(resources, "r", "", "same as --resources")
	vals := map[string]*string{}
	for _, name := range updateFlags {
		vals[name] = fs.String(name, "", "as runc update --"+name)
	}
	rest, err := parseArgs(fs, args, 1, "[--resources FILE|-] [--memory SIZE --cpu-quota N ...] ID")
	if err != nil {
		return 0, err
	}
	var r specs.LinuxResources
	if *resources != "" {
		err = readResources(*resources, &r)
	} else {
		set := map[string]string{}
		fs.Visit(func(f *flag.Flag) {
			if v, ok := vals[f.Name]; ok {
				set[f.Name] = *v
			}
		})
		err = resourcesFromFlags(set, &r)
	}
	if err != nil {
		return 0, err
	}
	return 0, rt.update(rest[0], &r)
}

// readResources decodes --resources (at most maxConfig bytes).
func readResources(src string, r *specs.LinuxResources) error {
	var in io.Reader = os.Stdin
	if src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return &UpdateError{Field: "--resources", Value: src, Reason: "cannot be read", Err: err}
		}
		defer f.Close()
		in = f
	}
	dec := json.NewDecoder(io.LimitReader(in, maxConfig))
	if err := dec.Decode(r); err != nil {
		return &UpdateError{Field: "--resources", Value: src, Reason: "not a JSON LinuxResources object", Err: err}
	}
	return nil
}

// resourcesFromFlags builds what runc update builds from its flags (set
// holds the flags given, by name).
func resourcesFromFlags(set map[string]string, r *specs.LinuxResources) error {
	r.Memory, r.CPU, r.BlockIO, r.Pids = &specs.LinuxMemory{}, &specs.LinuxCPU{}, &specs.LinuxBlockIO{}, &specs.LinuxPids{}
	for _, name := range []string{"kernel-memory", "kernel-memory-tcp", "l3-cache-schema", "mem-bw-schema"} {
		if v, ok := set[name]; ok {
			return &UpdateError{Field: "--" + name, Value: v, Reason: "not supported on cgroup v2 (nor by confine-runtime)"}
		}
	}
	bad := func(name string, err error) error {
		return &UpdateError{Field: "--" + name, Value: set[name], Reason: "not a valid value", Err: err}
	}
	if v, ok := set["cpuset-cpus"]; ok {
		r.CPU.Cpus = v
	}
	if v, ok := set["cpuset-mems"]; ok {
		r.CPU.Mems = v
	}
	if v, ok := set["blkio-weight"]; ok {
		w, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return bad("blkio-weight", err)
		}
		r.BlockIO.Weight = ptrTo(uint16(w))
	}
	for _, f := range []struct {
		name string
		dst  **uint64
	}{{"cpu-period", &r.CPU.Period}, {"cpu-burst", &r.CPU.Burst}, {"cpu-share", &r.CPU.Shares}, {"cpu-rt-period", &r.CPU.RealtimePeriod}} {
		if v, ok := set[f.name]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return bad(f.name, err)
			}
			*f.dst = &n
		}
	}
	for _, f := range []struct {
		name  string
		dst   **int64
		bytes bool // a size (512m, 1g) or -1 for unlimited
	}{
		{"cpu-quota", &r.CPU.Quota, false}, {"cpu-rt-runtime", &r.CPU.RealtimeRuntime, false},
		{"cpu-idle", &r.CPU.Idle, false}, {"pids-limit", &r.Pids.Limit, false},
		{"memory", &r.Memory.Limit, true}, {"memory-reservation", &r.Memory.Reservation, true},
		{"memory-swap", &r.Memory.Swap, true},
	} {
		v, ok := set[f.name]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if f.bytes && v != "-1" {
			n, err = cgroup.ParseSize(v)
		}
		if err != nil {
			return bad(f.name, err)
		}
		*f.dst = &n
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// update applies r to a created, running or paused container through the
// cgroup package (FromOCI, then Apply, which validates everything before
// writing and rolls back a refused write): a bad value is a typed error
// naming the field, and nothing changes. Device rules are left alone, as
// runc's update does.
func (rt *runtime) update(id string, r *specs.LinuxResources) error {
	d, rec, err := rt.open(id)
	if err != nil {
		return err
	}
	defer d.Close()
	if st := rec.status(d.path); st == specs.StateStopped {
		return &StateError{ID: id, Status: string(st), Op: "update"}
	}
	cg, err := cgroup.Open(rec.CgroupPath)
	if err != nil {
		return err
	}
	defer cg.Close()
	if err := keepOtherCPUHalf(cg, r.CPU); err != nil {
		return err
	}
	res, err := cgroup.FromOCI(r)
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	res.Devices = nil
	if err := cg.Apply(res); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	return nil
}

// keepOtherCPUHalf fills in the quota or period of cpu.max that c leaves
// out with the value in force, as runc does: `update --cpu-quota` keeps the
// period, `--cpu-period` the quota. Without the cpu controller (no cpu.max
// yet) the kernel's defaults are in force, which is what FromOCI fills in.
func keepOtherCPUHalf(cg *cgroup.Cgroup, c *specs.LinuxCPU) error {
	if c == nil {
		return nil
	}
	hasQ, hasP := c.Quota != nil && *c.Quota != 0, c.Period != nil && *c.Period != 0
	if hasQ == hasP {
		return nil
	}
	var s cgroup.Stats
	if err := cg.Stats(&s, cgroup.StatCPUMax); errors.Is(err, unix.ENOENT) {
		return nil
	} else if err != nil {
		return err
	}
	if hasQ {
		c.Period = ptrTo(s.Limits.CPUPeriodUsec)
		return nil
	}
	q := int64(-1) // "max"
	if s.Limits.CPUQuotaUsec != 1<<64-1 {
		q = int64(s.Limits.CPUQuotaUsec)
	}
	c.Quota = &q
	return nil
}
