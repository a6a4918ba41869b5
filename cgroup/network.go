package cgroup

// SKELETON (owned by the bandwidth work, issue 6). The cgroup core calls
// these; the bandwidth work replaces the bodies.

// Network limits a cgroup's network bandwidth (bits per second).
type Network struct {
	EgressRate   uint64
	EgressBurst  uint64
	IngressRate  uint64
	IngressBurst uint64
}

// NetworkStats holds the bandwidth limiter's per-cgroup counters.
type NetworkStats struct{}

func (n *Network) validate() error { return nil }

func (c *Cgroup) applyNetwork(n *Network) error { return nil }

func (c *Cgroup) networkStats(s *NetworkStats) error { return nil }

func (c *Cgroup) deleteNetwork() error { return nil }
