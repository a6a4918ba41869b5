package cgroup

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// TestHostDeletePopulated: Delete of a tree whose child holds a live
// process waits (WaitEmpty) until its context ends and then reports the
// real error (EBUSY, the directory, the context's error) and leaves the
// tree; DeleteOptions.Kill kills the process and removes the whole tree.
func TestHostDeletePopulated(t *testing.T) {
	parent := hostParent(t)
	testutil.CheckLeaks(t)
	top, err := New(filepath.Join(parent, "top"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	leaf, err := New(filepath.Join(parent, "top", "leaf"), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Close()
	cmd := startChild(t, leaf, "sleep", "60")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = top.DeleteContext(ctx, DeleteOptions{})
	if !errors.Is(err, unix.EBUSY) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), leaf.Path()) {
		t.Fatalf("Delete of a populated tree: %v, want EBUSY naming %s and DeadlineExceeded", err, leaf.Path())
	}
	if !exists(leaf.Path()) {
		t.Fatal("failed Delete removed the populated leaf")
	}

	again, err := Open(top.Path())
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	if err := again.DeleteContext(ctx2, DeleteOptions{Kill: true}); err != nil {
		t.Fatalf("Delete with Kill: %v", err)
	}
	if exists(top.Path()) {
		t.Error("tree left behind")
	}
	if err := again.DeleteContext(ctx2, DeleteOptions{Kill: true}); err != nil {
		t.Errorf("second Delete of a deleted, closed cgroup: %v", err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("child exit: %v, want killed", err)
	}
}
