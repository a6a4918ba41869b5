package cgroup

import "slices"

// knownControllers are the cgroup v2 controllers EnableControllers accepts.
var knownControllers = []string{"cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc", "perf_event"}

// EnableControllers makes the controllers named (e.g. "memory", "io")
// available to c, without setting a limit: it enables them top-down from
// the delegation boundary in every ancestor's cgroup.subtree_control, as
// Apply does for the limits it writes. Then c has the controllers' files,
// and Stats reports them (a program that only measures, like `confine run
// --stats`, needs nothing else). Unknown names are an *InvalidError, a
// controller bound to cgroup v1 a *V1BoundError, one the boundary does not
// offer a *ControllerError; on a failure midway, what this call enabled is
// disabled again.
func (c *Cgroup) EnableControllers(names ...string) error {
	for i, n := range names {
		if !slices.Contains(knownControllers, n) {
			return invalid("controllers["+itoa(uint64(i))+"]", n, "not a cgroup v2 controller")
		}
	}
	if err := c.h.checkControllers(names); err != nil {
		return err
	}
	_, err := c.enableControllers(names)
	return err
}
