package cgroup

import (
	"math"
	"strconv"
)

// Special values for the numeric limit fields of Resources. A field left at
// 0 is not touched.
const (
	// Unlimited removes a limit: the kernel file gets "max".
	Unlimited = math.MaxInt64
	// Zero sets a limit to 0 explicitly (0 itself means "leave unchanged"),
	// e.g. Memory{Swap: Zero} forbids swapping.
	Zero = math.MinInt64
)

// Switch is an on/off setting whose zero value leaves the kernel's current
// setting alone.
type Switch uint8

const (
	// Unchanged leaves the setting as it is.
	Unchanged Switch = iota
	// On enables the setting (writes 1).
	On
	// Off disables the setting (writes 0).
	Off
)

// Resources is a set of limits for one cgroup. It is a plain value: nil
// sub-structs and zero fields leave the kernel's current values unchanged,
// so an Apply with a partial Resources updates only what it names.
type Resources struct {
	// CPU sets cpu.* and cpuset.* files.
	CPU *CPU
	// Memory sets memory.* files.
	Memory *Memory
	// IO sets io.max and io.weight.
	IO *IO
	// Pids sets pids.max.
	Pids *Pids
	// HugeTLB sets hugetlb.<size>.max per page size.
	HugeTLB []HugeTLB
	// Devices, when non-nil, replaces the cgroup's device access rules
	// (an empty non-nil slice denies every device).
	Devices []DeviceRule
	// Network limits bandwidth; nil leaves it unchanged.
	Network *Network
}

// write is one planned control-file write.
type write struct {
	ctrl  string // controller that must be enabled for the file to exist
	file  string // file name inside the cgroup directory
	value string
	// dev is "MAJ:MIN" for per-device files (io.max), whose snapshot and
	// restore concern one line only.
	dev string
}

// plan validates every field and returns the writes in the order they are
// made. Nothing is written; a typed *InvalidError names the first bad field.
func (r *Resources) plan(h *Hierarchy) ([]write, error) {
	// Room for a typical set of limits: one allocation, not one per growth.
	ws := make([]write, 0, 8)
	var err error
	if r.CPU != nil {
		if ws, err = r.CPU.plan(ws); err != nil {
			return nil, err
		}
	}
	if r.Memory != nil {
		if ws, err = r.Memory.plan(ws); err != nil {
			return nil, err
		}
	}
	if r.IO != nil {
		if ws, err = r.IO.plan(ws); err != nil {
			return nil, err
		}
	}
	if r.Pids != nil {
		if ws, err = r.Pids.plan(ws); err != nil {
			return nil, err
		}
	}
	if ws, err = planHugeTLB(ws, r.HugeTLB, h.HugePageSizes); err != nil {
		return nil, err
	}
	if r.Devices != nil {
		if err := validateDevices(r.Devices); err != nil {
			return nil, err
		}
	}
	if r.Network != nil {
		if err := r.Network.validate(); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// neededControllers appends the distinct controllers a plan writes to, in
// first-use order, to out (a caller's stack buffer keeps it allocation-free).
func neededControllers(ws []write, out []string) []string {
	for _, w := range ws {
		seen := false
		for _, c := range out {
			if c == w.ctrl {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, w.ctrl)
		}
	}
	return out
}

// limitValue formats a limit field: Unlimited is "max", Zero is "0".
func limitValue(v int64) string {
	switch v {
	case Unlimited:
		return "max"
	case Zero:
		return "0"
	}
	return strconv.FormatInt(v, 10)
}

// checkLimit validates a byte/count limit that accepts Zero.
func checkLimit(field string, v int64) error {
	if v < 0 && v != Zero {
		return invalid(field, v, "must be >= 0, Zero or Unlimited")
	}
	return nil
}

func (s Switch) valid() bool { return s <= Off }

func (s Switch) value() string {
	if s == On {
		return "1"
	}
	return "0"
}

func (s Switch) String() string {
	switch s {
	case Unchanged:
		return "Unchanged"
	case On:
		return "On"
	case Off:
		return "Off"
	}
	return "Switch(" + strconv.Itoa(int(s)) + ")"
}
