package cgroup

// The limit groups read back what is in force, for a caller that reports
// usage against its limit (a runtime's stats, `runc events`) or changes
// one half of a pair (cpu.max quota without its period). Each group's
// files exist only where its controller is enabled (memory.swap.* also
// needs swap accounting); as for every group, a missing file is an error.
const (
	StatCPUMax    StatMask = StatNetwork << (1 + iota) // cpu.max
	StatMemoryMax                                      // memory.max
	StatSwap                                           // memory.swap.current, memory.swap.max
	StatPidsMax                                        // pids.max
	// StatLimits reads every limit group.
	StatLimits = StatCPUMax | StatMemoryMax | StatSwap | StatPidsMax
)

// LimitStats holds limits read back from the kernel. A limit of "max"
// (none) reads as MaxUint64.
type LimitStats struct {
	// CPUQuotaUsec and CPUPeriodUsec are cpu.max: the quota (MaxUint64 for
	// none) per period, in microseconds.
	CPUQuotaUsec, CPUPeriodUsec uint64
	// MemoryMax is memory.max in bytes.
	MemoryMax uint64
	// SwapMax is memory.swap.max in bytes.
	SwapMax uint64
	// PidsMax is pids.max.
	PidsMax uint64
}

var (
	nameCPUMax     = []byte("cpu.max\x00")
	nameMemMax     = []byte("memory.max\x00")
	nameSwapCur    = []byte("memory.swap.current\x00")
	nameSwapMax    = []byte("memory.swap.max\x00")
	namePidsMax    = []byte("pids.max\x00")
	errMalformedCM = &parseError{"cpu.max"}
)

// statLimits reads the limit groups in mask; c.mu is held.
func (c *Cgroup) statLimits(s *Stats, mask StatMask) error {
	l := &s.Limits
	var err error
	if mask&StatCPUMax != 0 {
		b, rerr := c.readLocked(nameCPUMax)
		if rerr == nil {
			l.CPUQuotaUsec, l.CPUPeriodUsec, rerr = parseCPUMax(b)
		}
		if err = c.statErr(nameCPUMax, rerr); err != nil {
			return err
		}
	}
	if mask&StatMemoryMax != 0 {
		if l.MemoryMax, err = c.readSingle(nameMemMax); err != nil {
			return err
		}
	}
	if mask&StatSwap != 0 {
		if s.Memory.SwapCurrent, err = c.readSingle(nameSwapCur); err != nil {
			return err
		}
		if l.SwapMax, err = c.readSingle(nameSwapMax); err != nil {
			return err
		}
	}
	if mask&StatPidsMax != 0 {
		if l.PidsMax, err = c.readSingle(namePidsMax); err != nil {
			return err
		}
	}
	return nil
}

// parseCPUMax parses cpu.max, "QUOTA PERIOD" where QUOTA may be "max".
func parseCPUMax(b []byte) (quota, period uint64, err error) {
	line, _ := nextLine(b)
	q, rest := nextField(line)
	p, extra := nextField(rest)
	quota, ok1 := parseU64(q)
	period, ok2 := parseU64(p)
	if !ok1 || !ok2 || string(p) == "max" || len(extra) != 0 {
		return 0, 0, errMalformedCM
	}
	return quota, period, nil
}
