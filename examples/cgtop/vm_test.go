package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/testutil"
)

// TestVMOOMKillEvent (tier 3: the memory controller) watches a tree while
// a 64 MiB allocation runs into a 16 MiB limit in it, and sees the memory
// column and the oom_kill event.
func TestVMOOMKillEvent(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	root := testutil.TempCgroup(t)
	job, err := cgroup.New(filepath.Join(root, "job"), cgroup.Resources{Memory: &cgroup.Memory{Max: 16 << 20, Swap: cgroup.Zero}})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	out := &lockedOutput{ch: make(chan string, 1024)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- watch(ctx, out, root, 2, 500*time.Millisecond, 100) }()
	// Let the first refresh add the cgroups to the watcher.
	var all strings.Builder
	for !strings.Contains(all.String(), "job") {
		all.WriteString(<-out.ch)
	}
	cmd := testutil.HelperCommand(t, "alloc", "64")
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := job.AddProcess(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	_ = cmd.Wait()
	want := "event: " + job.Path() + " oom_kill +"
	for !strings.Contains(all.String(), want) {
		select {
		case s := <-out.ch:
			all.WriteString(s)
		case err := <-errc:
			t.Fatalf("watch ended (%v) without %q:\n%s", err, want, all.String())
		}
	}
	cancel()
	for {
		select {
		case <-out.ch:
		case <-errc:
			t.Log(all.String())
			return
		}
	}
}
