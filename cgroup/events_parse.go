package cgroup

// cgEvents is the content of cgroup.events.
type cgEvents struct {
	populated bool
	frozen    bool
}

// parseCgroupEvents parses cgroup.events ("populated 1\nfrozen 0\n").
// Unknown keys are ignored, for newer kernels. memory.events, the
// watcher's other file, is parsed by parseMemoryEventsStat, as for Stats.
func parseCgroupEvents(b []byte, ev *cgEvents) error {
	*ev = cgEvents{}
	return parseKV(b, "cgroup.events", func(k []byte, v uint64) {
		switch string(k) {
		case "populated":
			ev.populated = v != 0
		case "frozen":
			ev.frozen = v != 0
		}
	})
}
