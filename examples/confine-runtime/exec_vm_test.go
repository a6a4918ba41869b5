package main

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/internal/testutil"
)

// TestVMExecMemoryLimit (tier 3: the memory controller): an exec'd
// process lives under the container's limits, from config.json through
// cgroup.FromOCI: it reads the container's memory.max, and allocating
// past it gets it OOM-killed (exit 137, as from run).
func TestVMExecMemoryLimit(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	limit := int64(32 << 20)
	root, _, _ := running(t, "m1", func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	})
	if out := mustRT(t, root, "exec", "m1", "cat", "/sys/fs/cgroup/memory.max"); strings.TrimSpace(out) != "33554432" {
		t.Errorf("memory.max seen by the exec'd process: %q", out)
	}
	r := rt(t, root, "exec", "m1", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
	if r.code != 137 {
		t.Errorf("exec of a 64 MiB allocation: exit %d, want 137 (OOM kill)\nstderr: %s", r.code, r.stderr)
	}
	// The container itself lives on: only the exec'd process was killed.
	if st := stateOf(t, root, "m1"); st.Status != specs.StateRunning {
		t.Errorf("container after the exec'd process's OOM kill: %+v", st)
	}
}
