package main

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/internal/testutil"
)

// Tier 3: a pure cgroup v2 VM with every controller.

// TestVMMemoryLimitOOM: linux.resources.memory.limit from config.json,
// through cgroup.FromOCI, is the container's memory.max, and the kernel
// OOM-kills a process allocating past it (exit 137 from run).
func TestVMMemoryLimitOOM(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	limit := int64(16 << 20)
	dir, cg := bundle(t, []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		// The VM's tests run one at a time; keep dd's output for the log.
	})
	r := rt(t, stateRoot(t), "run", "--bundle", dir, "oom")
	if r.code != 137 {
		t.Fatalf("run: exit %d, want 137 (SIGKILL by the OOM killer)\nstderr: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left after run: %v", cg, err)
	}

	// The same limit without the allocation: the process runs, and the
	// limit it ran under is the one config.json gave.
	dir, _ = bundle(t, []string{"cat", "/sys/fs/cgroup/memory.max"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	})
	r = rt(t, stateRoot(t), "run", "--bundle", dir, "fits")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "16777216" {
		t.Fatalf("memory.max seen in the container: %q (exit %d, stderr %s)", r.stdout, r.code, r.stderr)
	}
}
