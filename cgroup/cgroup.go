package cgroup

// SKELETON (owned by the cgroup core work): the minimal shape other files
// rely on. Extend freely; keep Path and the path field.

// Cgroup is one cgroup v2 directory in the unified hierarchy.
type Cgroup struct {
	path string // absolute path of the cgroup directory
}

// Path returns the cgroup's absolute directory path.
func (c *Cgroup) Path() string { return c.path }
