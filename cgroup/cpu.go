package cgroup

import (
	"strconv"
	"time"
)

// Kernel bounds for cpu.max (kernel/sched/core.c: min_cfs_quota_period,
// max_cfs_quota_period and the 1 ms minimum quota).
const (
	minCPUPeriod = time.Millisecond
	maxCPUPeriod = time.Second
	minCPUQuota  = time.Millisecond
	// DefaultCPUPeriod is the period used when CPUMax.Period is 0.
	DefaultCPUPeriod = 100 * time.Millisecond
)

// CPU holds limits of the cpu and cpuset controllers.
type CPU struct {
	// Max caps CPU time (cpu.max); nil leaves it unchanged.
	Max *CPUMax
	// Weight is the proportional share, 1..10000 (cpu.weight; kernel
	// default 100); 0 leaves it unchanged.
	Weight uint64
	// Idle puts the cgroup in SCHED_IDLE mode (cpu.idle, Linux 5.15).
	Idle Switch
	// Burst lets the group bank unused quota, up to the quota (cpu.max.burst,
	// Linux 5.14). 0 leaves it unchanged; Zero sets 0. Whole microseconds.
	Burst time.Duration
	// Cpus restricts the CPUs (cpuset.cpus), a list like "0-3,5"; "" leaves
	// it unchanged.
	Cpus string
	// Mems restricts the memory nodes (cpuset.mems), same syntax as Cpus.
	Mems string
}

// CPUMax is a bandwidth limit: Quota of CPU time per Period.
type CPUMax struct {
	// Quota is the CPU time allowed per period (>= 1 ms, whole
	// microseconds), or Unlimited.
	Quota time.Duration
	// Period is 1 ms..1 s; 0 means DefaultCPUPeriod.
	Period time.Duration
}

// CPUs returns a CPUMax allowing n CPUs' worth of time (n=0.5 is half a
// CPU) over the default period, the way `docker run --cpus` does.
func CPUs(n float64) *CPUMax {
	return &CPUMax{Quota: time.Duration(n*float64(DefaultCPUPeriod/time.Microsecond)) * time.Microsecond,
		Period: DefaultCPUPeriod}
}

func (c *CPU) plan(ws []write) ([]write, error) {
	if c.Cpus != "" {
		if err := checkCPUList("CPU.Cpus", c.Cpus); err != nil {
			return nil, err
		}
		ws = append(ws, write{ctrl: "cpuset", file: "cpuset.cpus", value: c.Cpus})
	}
	if c.Mems != "" {
		if err := checkCPUList("CPU.Mems", c.Mems); err != nil {
			return nil, err
		}
		ws = append(ws, write{ctrl: "cpuset", file: "cpuset.mems", value: c.Mems})
	}
	if c.Weight != 0 {
		if c.Weight > 10000 {
			return nil, invalid("CPU.Weight", c.Weight, "must be 1..10000")
		}
		ws = append(ws, write{ctrl: "cpu", file: "cpu.weight", value: itoa(c.Weight)})
	}
	if !c.Idle.valid() {
		return nil, invalid("CPU.Idle", c.Idle, "must be Unchanged, On or Off")
	}
	if c.Idle != Unchanged {
		ws = append(ws, write{ctrl: "cpu", file: "cpu.idle", value: c.Idle.value()})
	}
	if c.Max != nil {
		v, err := c.Max.value()
		if err != nil {
			return nil, err
		}
		ws = append(ws, write{ctrl: "cpu", file: "cpu.max", value: v})
	}
	if c.Burst != 0 {
		if err := c.checkBurst(); err != nil {
			return nil, err
		}
		b := "0"
		if c.Burst != Zero {
			b = strconv.FormatInt(int64(c.Burst/time.Microsecond), 10)
		}
		ws = append(ws, write{ctrl: "cpu", file: "cpu.max.burst", value: b})
	}
	return ws, nil
}

func (c *CPU) checkBurst() error {
	if c.Burst == Zero {
		return nil
	}
	if c.Burst < 0 || c.Burst%time.Microsecond != 0 {
		return invalid("CPU.Burst", c.Burst, "must be >= 0 whole microseconds, or Zero")
	}
	// The kernel refuses a burst above the quota; check it when both are
	// given so the refusal is ours and typed.
	if c.Max != nil && c.Max.Quota != Unlimited && c.Burst > c.Max.Quota {
		return invalid("CPU.Burst", c.Burst, "must not exceed CPU.Max.Quota")
	}
	return nil
}

func (m *CPUMax) value() (string, error) {
	period := m.Period
	if period == 0 {
		period = DefaultCPUPeriod
	}
	if period < minCPUPeriod || period > maxCPUPeriod || period%time.Microsecond != 0 {
		return "", invalid("CPU.Max.Period", m.Period, "must be 1ms..1s in whole microseconds, or 0 for the default")
	}
	var b [48]byte // one allocation: the string
	v := b[:0]
	switch {
	case m.Quota == Unlimited:
		v = append(v, "max"...)
	case m.Quota < minCPUQuota || m.Quota%time.Microsecond != 0:
		return "", invalid("CPU.Max.Quota", m.Quota, "must be >= 1ms in whole microseconds, or Unlimited")
	default:
		v = strconv.AppendInt(v, int64(m.Quota/time.Microsecond), 10)
	}
	v = append(v, ' ')
	return string(strconv.AppendInt(v, int64(period/time.Microsecond), 10)), nil
}

// maxCPUIndex bounds list entries; the kernel's NR_CPUS is at most 8192.
const maxCPUIndex = 8192

// checkCPUList validates a cpuset list ("0-3,5,7-8"): comma-separated
// numbers or ascending ranges, no spaces.
func checkCPUList(field, s string) error {
	if err := parseCPUList(s, nil); err != nil {
		return invalid(field, s, err.Error())
	}
	return nil
}

type listError string

func (e listError) Error() string { return string(e) }

// parseCPUList parses a cpuset list, calling fn (when non-nil) for each
// range; it returns a listError saying what is wrong.
func parseCPUList(s string, fn func(lo, hi int)) error {
	if s == "" {
		return listError("empty list")
	}
	for s != "" {
		item, rest, more := cut(s, ',')
		if more && rest == "" {
			return listError("trailing comma")
		}
		s = rest
		lo, hi, isRange := cut(item, '-')
		a, okA := atoiList(lo)
		b := a
		okB := true
		if isRange {
			b, okB = atoiList(hi)
		}
		if !okA || !okB {
			return listError("must be comma-separated numbers or ranges like 0-3,5")
		}
		if a > b {
			return listError("range " + item + " is descending")
		}
		if fn != nil {
			fn(a, b)
		}
	}
	return nil
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func atoiList(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n < maxCPUIndex
}
