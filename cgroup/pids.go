package cgroup

// Pids limits the number of tasks (processes and threads) in the group.
type Pids struct {
	// Max is pids.max: 0 leaves it unchanged, Unlimited writes "max", Zero
	// forbids any new task.
	Max int64
}

func (p *Pids) plan(ws []write) ([]write, error) {
	if p.Max == 0 {
		return ws, nil
	}
	if err := checkLimit("Pids.Max", p.Max); err != nil {
		return nil, err
	}
	return append(ws, write{ctrl: "pids", file: "pids.max", value: limitValue(p.Max)}), nil
}
