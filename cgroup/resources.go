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
	// Unified writes raw cgroup v2 control files, as OCI's
	// LinuxResources.Unified and the CRI's unified map do: each key is a
	// file name of the form CONTROLLER.PARAMETER ("memory.high",
	// "pids.max"), each value is written as given, one write(2) per
	// non-empty line (io.max takes one device per write). The kernel
	// judges the values. Entries are written after every typed field's
	// control file, in sorted key order, so a file that a typed field also
	// sets ends with Unified's value, and the typed write is skipped (no
	// passing through the typed value: a memory.max lowered on the way
	// could reclaim or OOM-kill). In io.max, io.weight and the other files
	// of one line per device or resource, each write changes one line and
	// the kernel merges them: both are written, Unified's last. A value
	// with no non-empty line writes nothing.
	//
	// Refused before anything is written, with an *InvalidError naming
	// Unified["key"]: a key with a slash, one not of the form
	// CONTROLLER.PARAMETER, a PSI file (*.pressure), a cgroup.* file other
	// than cgroup.max.descendants, cgroup.max.depth and cgroup.pressure,
	// and a value with a NUL byte. A controller the unified root does not
	// offer gives a *V1BoundError or *ControllerError, as for the typed
	// fields; the controller is enabled for the cgroup like theirs. Writes
	// join Apply's plan: rollback restores the files Unified wrote too, so
	// a file whose old value cannot be read (write-only, like
	// memory.reclaim) fails an Apply of several writes with the kernel's
	// read error before anything is written. Apply neither keeps nor
	// changes the map.
	Unified map[string]string
}

// write is one planned control-file write.
type write struct {
	ctrl  string // controller that must be enabled for the file to exist
	file  string // file name inside the cgroup directory
	value string
	// dev is the key of the line written in a keyed file (keyedFiles:
	// "MAJ:MIN" in io.max, "default" or "MAJ:MIN" in io.weight), whose
	// snapshot and restore concern that line only.
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
	if len(r.Unified) > 0 {
		return planUnified(ws, r.Unified)
	}
	return ws, nil
}

// neededControllers appends the distinct controllers a plan writes to, in
// first-use order, to out (a caller's stack buffer keeps it allocation-free).
func neededControllers(ws []write, out []string) []string {
	for _, w := range ws {
		if w.ctrl == "" { // a cgroup core file: every cgroup has it
			continue
		}
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
