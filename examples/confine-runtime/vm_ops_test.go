package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/testutil"
)

// Tier 3: the same operations where every controller is in cgroup v2.

func TestVMPauseResume(t *testing.T) {
	testutil.RequireVM(t)
	testPauseResume(t)
}

// TestVMEventsStats: memory usage, peak and limit, pids and their limit
// are the kernel's.
func TestVMEventsStats(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	testutil.RequireController(t, "pids")
	testEventsStats(t)
}

func readCgroupFile(t *testing.T, cg, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cg, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestVMUpdate: update changes what the kernel enforces on a running
// container (its memory.max, then an allocation past the new limit is
// OOM-killed, which the events stream reports before it ends); cpu.max
// keeps the half an update leaves out; a bad value changes nothing.
func TestVMUpdate(t *testing.T) {
	testutil.RequireVM(t)
	for _, c := range []string{"memory", "cpu", "pids"} {
		testutil.RequireController(t, c)
	}
	out, withOut := outMount(t)
	limit, quota, period := int64(256<<20), int64(50000), uint64(200000)
	script := "while [ ! -e /out/go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1"
	dir, cg := bundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		withOut(s)
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	})
	root := stateRoot(t)
	run := runtimeCmd(t, root, "run", "--bundle", dir, "u1")
	run.Stdout, run.Stderr = os.Stderr, os.Stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill(); _ = run.Wait() })
	waitFor(t, "the container to run", func() bool {
		r := rt(t, root, "state", "u1")
		return r.code == 0 && strings.Contains(r.stdout, `"running"`)
	})

	mustRT(t, root, "update", "--memory", "16m", "--memory-swap", "16m", "--pids-limit", "40", "u1")
	for file, want := range map[string]string{"memory.max": "16777216", "memory.swap.max": "0", "pids.max": "40"} {
		if got := readCgroupFile(t, cg, file); got != want {
			t.Errorf("%s after update: %s, want %s", file, got, want)
		}
	}
	mustRT(t, root, "update", "--cpu-quota", "30000", "u1")
	if got := readCgroupFile(t, cg, "cpu.max"); got != "30000 200000" {
		t.Errorf("cpu.max after --cpu-quota: %q, want the period kept", got)
	}
	mustRT(t, root, "update", "--cpu-period", "100000", "u1")
	if got := readCgroupFile(t, cg, "cpu.max"); got != "30000 100000" {
		t.Errorf("cpu.max after --cpu-period: %q, want the quota kept", got)
	}
	before := cgroupFiles(t, cg)
	err := inProcess(root, "update", "--memory", "512m", "--cpu-quota", "500", "u1")
	var ie *cgroup.InvalidError
	if !errors.As(err, &ie) || ie.Field != "CPU.Max.Quota" {
		t.Errorf("update with a quota under 1 ms: %v, want an *InvalidError naming CPU.Max.Quota", err)
	}
	if after := cgroupFiles(t, cg); after != before {
		t.Errorf("a refused update changed the cgroup:\nbefore %s\nafter  %s", before, after)
	}

	events, wait := streamEvents(t, root, "u1", "1s")
	// The stream counts OOM kills from its start: let it report once (it
	// is attached then) before the container allocates, or a fast OOM is
	// part of its baseline under a slow VM.
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the events stream ended before the container did")
		}
		if ev.Type == "oom" {
			t.Fatal("oom event before the container allocated")
		}
	case <-time.After(time.Minute):
		t.Fatal("no event from the stream within a minute")
	}
	if err := os.WriteFile(filepath.Join(out, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	var ee *exec.ExitError
	select {
	case err := <-done:
		if !errors.As(err, &ee) || ee.ExitCode() != 137 {
			t.Errorf("run: %v, want exit 137 (OOM-killed under the updated 16 MiB)", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the container did not end")
	}
	var oom bool
	for end, open := time.After(2*time.Minute), true; open; {
		select {
		case ev, ok := <-events:
			oom, open = oom || ev.Type == "oom", ok
		case <-end:
			t.Fatal("the events stream did not end with the container")
		}
	}
	if err := wait(); err != nil || !oom {
		t.Errorf("events stream: oom seen %v, end %v; want an oom event, then a clean end", oom, err)
	}
}
