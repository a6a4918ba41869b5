package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.RunHelperIfAsked()
	os.Exit(m.Run())
}

// lockedOutput hands what watch writes to the test goroutine.
type lockedOutput struct {
	ch chan string
}

func (l *lockedOutput) Write(p []byte) (int, error) {
	l.ch <- string(p)
	return len(p), nil
}

// TestWatchTree (tier 2) watches a temporary cgroup holding a child group
// with one process, and sees the process counted and the group's
// "populated" -> "empty" event when the process ends.
func TestWatchTree(t *testing.T) {
	testutil.RequireRoot(t)
	root := testutil.TempCgroup(t)
	child := filepath.Join(root, "job")
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := testutil.HelperCommand(t, "sleep", "2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	if err := os.WriteFile(filepath.Join(child, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	out := &lockedOutput{ch: make(chan string, 1024)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- watch(ctx, out, root, 2, 300*time.Millisecond, 15) }()
	var all strings.Builder
	sawTask, sawEmpty := false, false
	for !(sawTask && sawEmpty) {
		select {
		case s := <-out.ch:
			all.WriteString(s) // tabwriter writes a line in pieces: scan it all
			for _, line := range strings.Split(all.String(), "\n") {
				f := strings.Fields(line)
				if len(f) == 4 && f[0] == "job" && f[3] == "1" {
					sawTask = true
				}
				if strings.Contains(line, "event: "+child+" ") && strings.HasSuffix(line, "empty") {
					sawEmpty = true
				}
			}
		case err := <-errc:
			t.Fatalf("watch ended early (%v); output:\n%s", err, all.String())
		}
	}
	cancel()
	for {
		select {
		case <-out.ch:
			continue
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}
