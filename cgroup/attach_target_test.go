package cgroup

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/devfilter"
	"github.com/confinelab/confine/internal/testutil"
)

// A Cgroup names its pins after the id of the directory it holds open, so
// an attach must reach that cgroup, not whatever sits at its path now:
// after someone else removed the path and made a new cgroup there, Apply
// puts neither a device program nor a limiter on the new cgroup (whose
// manager would find them pinned under another id, and whose Delete
// would not remove them).
func TestApplyAttachesToItsOwnCgroup(t *testing.T) {
	testutil.RequireKernel(t, "5.12")
	useBPFFS(t)
	path := testutil.TempCgroup(t)
	c := openCgroup(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	// Whether the kernel takes a program for a removed cgroup or not, the
	// new one must get none.
	errDev := c.Apply(Resources{Devices: uniqueRules()})
	errNet := c.applyNetwork(&Network{EgressRate: 10e6})
	t.Logf("Apply on the removed cgroup: devices %v, network %v", errDev, errNet)
	t.Cleanup(func() { _ = c.deleteNetwork(); _ = c.deleteDevices() })
	if ids, err := devfilter.Attached(path); err != nil || len(ids) != 0 {
		t.Errorf("the new cgroup at %s has device programs %v (%v), want none", path, ids, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, at := range []ebpf.AttachType{ebpf.AttachCGroupInetEgress, ebpf.AttachCGroupInetIngress} {
		r, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: at})
		if err != nil {
			t.Fatalf("querying %v: %v", at, err)
		}
		if len(r.Programs) != 0 {
			t.Errorf("the new cgroup at %s has %d %v programs, want none", path, len(r.Programs), at)
		}
	}
}
