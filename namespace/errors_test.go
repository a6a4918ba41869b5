package namespace_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// A mount refused inside the init reaches Start's caller as the init saw
// it: the namespace step, the mount package's *StepError with its target,
// and the *mount.TargetError (issue 14, item 3, end to end).
func TestMountErrorKeepsIdentityAcrossSpawn(t *testing.T) {
	testutil.RequireRoot(t)
	root := testutil.BusyboxRoot(t, []string{"proc"})
	if err := os.Symlink("/proc/sys/kernel", filepath.Join(root, "data")); err != nil {
		t.Fatal(err)
	}
	c := &namespace.Cmd{Path: "/bin/true", Namespaces: namespace.Set{namespace.MNT, namespace.PID},
		Root: &mount.Root{Path: root, Mounts: []mount.Mount{mount.Proc("/proc"), mount.Bind(t.TempDir(), "/data", 0)}}}
	err := c.Start()
	var ns, ms *namespace.StepError
	var te *mount.TargetError
	if !errors.As(err, &ns) || ns.Pkg != "namespace" || ns.Step != namespace.StepMount {
		t.Fatalf("Start = %v, want the namespace step %q", err, namespace.StepMount)
	}
	if !errors.As(ns.Err, &ms) || ms.Pkg != "mount" || !errors.As(err, &te) || te.Target != "/data" || te.Filesystem != "proc" {
		t.Fatalf("Start = %v, want a mount *StepError with a *TargetError for /data", err)
	}
	if ns.Path == "" {
		t.Errorf("the namespace step error names no path: %v", err)
	}
	t.Logf("%v", err)
}
