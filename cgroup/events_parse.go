package cgroup

import "errors"

var errEventsSyntax = errors.New("cgroup: malformed event file line")

// nextKV splits the first "key value\n" line off b. It does not allocate:
// key aliases b. Lines must hold a key, one space and a decimal number.
func nextKV(b []byte) (key []byte, val uint64, rest []byte, err error) {
	i := 0
	for i < len(b) && b[i] != ' ' && b[i] != '\n' {
		i++
	}
	if i == 0 || i >= len(b) || b[i] != ' ' {
		return nil, 0, nil, errEventsSyntax
	}
	key = b[:i]
	j := i + 1
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		d := uint64(b[j] - '0')
		if val > (1<<64-1-d)/10 {
			return nil, 0, nil, errEventsSyntax // overflow
		}
		val = val*10 + d
		j++
	}
	if j == start || (j < len(b) && b[j] != '\n') {
		return nil, 0, nil, errEventsSyntax
	}
	if j < len(b) {
		j++ // newline
	}
	return key, val, b[j:], nil
}

// cgEvents is the content of cgroup.events.
type cgEvents struct {
	populated bool
	frozen    bool
}

// parseCgroupEvents parses cgroup.events ("populated 1\nfrozen 0\n").
// Unknown keys are ignored, for newer kernels.
func parseCgroupEvents(b []byte, ev *cgEvents) error {
	*ev = cgEvents{}
	for len(b) > 0 {
		key, val, rest, err := nextKV(b)
		if err != nil {
			return err
		}
		switch string(key) {
		case "populated":
			ev.populated = val != 0
		case "frozen":
			ev.frozen = val != 0
		}
		b = rest
	}
	return nil
}

// memEventCounts is the content of memory.events (cumulative counters).
type memEventCounts struct {
	low, high, max, oom, oomKill, oomGroupKill uint64
}

// parseMemoryEvents parses memory.events. Unknown keys are ignored.
func parseMemoryEvents(b []byte, ev *memEventCounts) error {
	*ev = memEventCounts{}
	for len(b) > 0 {
		key, val, rest, err := nextKV(b)
		if err != nil {
			return err
		}
		switch string(key) {
		case "low":
			ev.low = val
		case "high":
			ev.high = val
		case "max":
			ev.max = val
		case "oom":
			ev.oom = val
		case "oom_kill":
			ev.oomKill = val
		case "oom_group_kill":
			ev.oomGroupKill = val
		}
		b = rest
	}
	return nil
}
