package cgroup

// Parsers for cgroup v2 stat files. They take the file content and fill a
// struct in place without allocating (except where a caller-owned slice
// must grow), so a reused Stats costs no garbage. Unknown keys are
// ignored: kernels add keys over time. A malformed number is an error.

import "bytes"

type parseError struct {
	what string
}

func (e *parseError) Error() string { return "malformed " + e.what }

// nextLine splits off the first line of b.
func nextLine(b []byte) (line, rest []byte) {
	for i, c := range b {
		if c == '\n' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// nextField splits off the first space-separated field of b.
func nextField(b []byte) (field, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for i, c := range b {
		if c == ' ' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// parseU64 parses a decimal number; "max" is reported as MaxUint64.
func parseU64(b []byte) (uint64, bool) {
	if string(b) == "max" {
		return 1<<64 - 1, true
	}
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// errMalformed reports a single-value file that is not a number.
var errMalformed = &parseError{"single-value file"}

// parseSingle parses a file holding one number (or "max").
func parseSingle(b []byte) (uint64, error) {
	line, _ := nextLine(b)
	v, ok := parseU64(line)
	if !ok {
		return 0, errMalformed
	}
	return v, nil
}

// parseKV calls set for each "key value" line (set ignores keys it does
// not know). A line with a missing, malformed or extra value is an error.
func parseKV(b []byte, what string, set func(key []byte, v uint64)) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		key, rest := nextField(line)
		val, extra := nextField(rest)
		v, ok := parseU64(val)
		if !ok || len(key) == 0 || len(bytes.TrimSpace(extra)) != 0 {
			return &parseError{what}
		}
		set(key, v)
	}
	return nil
}

func parseCPUStat(b []byte, s *CPUStats) error {
	*s = CPUStats{}
	seen := false
	err := parseKV(b, "cpu.stat", func(k []byte, v uint64) {
		switch string(k) {
		case "usage_usec":
			s.UsageUsec, seen = v, true
		case "user_usec":
			s.UserUsec = v
		case "system_usec":
			s.SystemUsec = v
		case "nr_periods":
			s.NrPeriods = v
		case "nr_throttled":
			s.NrThrottled = v
		case "throttled_usec":
			s.ThrottledUsec = v
		case "nr_bursts":
			s.NrBursts = v
		case "burst_usec":
			s.BurstUsec = v
		}
	})
	if err == nil && !seen {
		err = &parseError{"cpu.stat (no usage_usec)"}
	}
	return err
}

func parseMemoryStat(b []byte, s *MemoryStat) error {
	*s = MemoryStat{}
	return parseKV(b, "memory.stat", func(k []byte, v uint64) {
		switch string(k) {
		case "anon":
			s.Anon = v
		case "file":
			s.File = v
		case "kernel":
			s.Kernel = v
		case "kernel_stack":
			s.KernelStack = v
		case "pagetables":
			s.PageTables = v
		case "sock":
			s.Sock = v
		case "shmem":
			s.Shmem = v
		case "file_mapped":
			s.FileMapped = v
		case "file_dirty":
			s.FileDirty = v
		case "file_writeback":
			s.FileWriteback = v
		case "slab":
			s.Slab = v
		case "active_anon":
			s.ActiveAnon = v
		case "inactive_anon":
			s.InactiveAnon = v
		case "active_file":
			s.ActiveFile = v
		case "inactive_file":
			s.InactiveFile = v
		case "unevictable":
			s.Unevictable = v
		case "pgfault":
			s.PgFault = v
		case "pgmajfault":
			s.PgMajFault = v
		case "workingset_refault_anon":
			s.WorkingsetRefaultAnon = v
		case "workingset_refault_file":
			s.WorkingsetRefaultFile = v
		}
	})
}

func parseMemoryEventsStat(b []byte, s *MemoryEvents) error {
	*s = MemoryEvents{}
	return parseKV(b, "memory.events", func(k []byte, v uint64) {
		switch string(k) {
		case "low":
			s.Low = v
		case "high":
			s.High = v
		case "max":
			s.Max = v
		case "oom":
			s.OOM = v
		case "oom_kill":
			s.OOMKill = v
		case "oom_group_kill":
			s.OOMGroupKill = v
		}
	})
}

// parseIOStat parses io.stat lines "MAJ:MIN rbytes=N wbytes=N ...",
// reusing devs' backing array.
func parseIOStat(b []byte, devs []IODeviceStats) ([]IODeviceStats, error) {
	devs = devs[:0]
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		dev, rest := nextField(line)
		var d IODeviceStats
		if !parseDev(dev, &d.Major, &d.Minor) {
			return devs, &parseError{"io.stat device"}
		}
		for len(rest) > 0 {
			var kv []byte
			kv, rest = nextField(rest)
			if len(kv) == 0 {
				continue
			}
			k, v, ok := cutEq(kv)
			n, okN := parseU64(v)
			if !ok || !okN {
				return devs, &parseError{"io.stat"}
			}
			switch string(k) {
			case "rbytes":
				d.Rbytes = n
			case "wbytes":
				d.Wbytes = n
			case "rios":
				d.Rios = n
			case "wios":
				d.Wios = n
			case "dbytes":
				d.Dbytes = n
			case "dios":
				d.Dios = n
			}
		}
		devs = append(devs, d)
	}
	return devs, nil
}

func cutEq(b []byte) (k, v []byte, ok bool) {
	for i, c := range b {
		if c == '=' {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

func parseDev(b []byte, major, minor *uint32) bool {
	for i, c := range b {
		if c == ':' {
			ma, ok1 := parseU64(b[:i])
			mi, ok2 := parseU64(b[i+1:])
			if !ok1 || !ok2 || ma > 1<<32-1 || mi > 1<<32-1 {
				return false
			}
			*major, *minor = uint32(ma), uint32(mi)
			return true
		}
	}
	return false
}

// parsePSI parses a pressure file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
func parsePSI(b []byte, p *PSI) error {
	*p = PSI{}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		kind, rest := nextField(line)
		var d *PSIData
		switch string(kind) {
		case "some":
			d = &p.Some
		case "full":
			d = &p.Full
		default:
			return &parseError{"pressure file"}
		}
		for len(rest) > 0 {
			var kv []byte
			kv, rest = nextField(rest)
			if len(kv) == 0 {
				continue
			}
			k, v, ok := cutEq(kv)
			if !ok {
				return &parseError{"pressure file"}
			}
			var good bool
			switch string(k) {
			case "avg10":
				d.Avg10, good = parseFixed2(v)
			case "avg60":
				d.Avg60, good = parseFixed2(v)
			case "avg300":
				d.Avg300, good = parseFixed2(v)
			case "total":
				d.Total, good = parseU64(v)
			default:
				good = true
			}
			if !good {
				return &parseError{"pressure file"}
			}
		}
	}
	return nil
}

// parseFixed2 parses the kernel's "%lu.%02lu" percentages without
// strconv (whose error path allocates).
func parseFixed2(b []byte) (float64, bool) {
	i := 0
	for i < len(b) && b[i] != '.' {
		i++
	}
	whole, ok := parseU64(b[:i])
	if !ok || whole > 1<<53 {
		return 0, false
	}
	if i == len(b) {
		return float64(whole), true
	}
	frac := b[i+1:]
	if len(frac) == 0 || len(frac) > 6 {
		return 0, false
	}
	f, ok := parseU64(frac)
	if !ok {
		return 0, false
	}
	div := 1.0
	for range frac {
		div *= 10
	}
	return float64(whole) + float64(f)/div, true
}

// parseEventsMax reads the "max N" count of hugetlb.<size>.events.
func parseEventsMax(b []byte) (uint64, error) {
	var n uint64
	seen := false
	err := parseKV(b, "hugetlb events", func(k []byte, v uint64) {
		if string(k) == "max" {
			n, seen = v, true
		}
	})
	if err == nil && !seen {
		err = &parseError{"hugetlb events (no max)"}
	}
	return n, err
}
