package cgroup

// Memory holds limits of the memory controller, in bytes. For each field 0
// leaves the kernel's value unchanged, Unlimited writes "max" and Zero
// writes 0. The kernel rounds byte values down to whole pages.
type Memory struct {
	// Max is the hard limit (memory.max): above it the OOM killer runs.
	Max int64
	// High is the throttling limit (memory.high): above it the group is
	// reclaimed hard and slowed, never killed.
	High int64
	// Low is best-effort protection from reclaim (memory.low).
	Low int64
	// Min is hard protection from reclaim (memory.min).
	Min int64
	// Swap caps swap use (memory.swap.max), not memory plus swap as in
	// cgroup v1 and Docker's --memory-swap.
	Swap int64
	// OOMGroup makes the OOM killer kill the whole group at once
	// (memory.oom.group).
	OOMGroup Switch
}

func (m *Memory) plan(ws []write) ([]write, error) {
	// Protections first, then limits: lowering limits last gives reclaim
	// the most room while the writes are in flight.
	fields := []struct {
		name, file string
		v          int64
	}{
		{"Memory.Min", "memory.min", m.Min},
		{"Memory.Low", "memory.low", m.Low},
		{"Memory.High", "memory.high", m.High},
		{"Memory.Max", "memory.max", m.Max},
		{"Memory.Swap", "memory.swap.max", m.Swap},
	}
	for _, f := range fields {
		if f.v == 0 {
			continue
		}
		if err := checkLimit(f.name, f.v); err != nil {
			return nil, err
		}
		ws = append(ws, write{ctrl: "memory", file: f.file, value: limitValue(f.v)})
	}
	if !m.OOMGroup.valid() {
		return nil, invalid("Memory.OOMGroup", m.OOMGroup, "must be Unchanged, On or Off")
	}
	if m.OOMGroup != Unchanged {
		ws = append(ws, write{ctrl: "memory", file: "memory.oom.group", value: m.OOMGroup.value()})
	}
	return ws, nil
}
