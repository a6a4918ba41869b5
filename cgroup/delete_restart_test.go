package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/bpfpin"
	"github.com/confinelab/confine/internal/devfilter"
	"github.com/confinelab/confine/internal/testutil"
)

// TestHostDeleteAfterRestart: a manager that restarted (Open, nothing
// attached by this value) still finds and removes the device and network
// pins of a cgroup on Delete, and the programs are released.
func TestHostDeleteAfterRestart(t *testing.T) { deleteAfterRestart(t) }

// TestVMDeleteAfterRestart is the same on a pure cgroup v2 host.
func TestVMDeleteAfterRestart(t *testing.T) {
	testutil.RequireVM(t)
	deleteAfterRestart(t)
}

func deleteAfterRestart(t *testing.T) {
	parent := hostParent(t)
	testutil.RequireKernel(t, "5.12")
	// Device programs pin on the host's BPF filesystem: mount one for the
	// test where the host has none (this project's hosts do not), and
	// leave the host as it was.
	mounted, err := MountBPFFS()
	if err != nil {
		testutil.Skip(t, "%v", err)
	}
	if mounted {
		t.Cleanup(func() {
			if err := unix.Unmount(bpfpin.FSRoot, unix.MNT_DETACH); err != nil {
				t.Errorf("unmounting the BPF filesystem the test mounted: %v", err)
			}
		})
	}
	mnt := useBPFFS(t) // network pins on a private mount, devices on the host's
	testutil.CheckLeaks(t)
	path := filepath.Join(parent, "r")
	first, err := New(path, Resources{Devices: DefaultDevices(), Network: &Network{EgressRate: 10e6}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := first.pinID()
	if err != nil {
		t.Fatal(err)
	}
	devDir, netDir := bpfpin.DirForID(id), networkFS.DirForID(id)
	progs, err := devfilter.Attached(path)
	if err != nil || len(progs) != 1 {
		t.Fatalf("device programs %v, %v; want one", progs, err)
	}
	netProgs := limiterIDs(t, netDir)
	progs = append(progs, netProgs[:]...)
	for _, d := range []string{devDir, netDir} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("pin dir: %v", err)
		}
	}
	first.Close() // the manager exits

	restarted, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, d := range []string{devDir, netDir, bpfpin.FS(mnt).Root()} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Delete: %v", d, err)
		}
	}
	for _, id := range progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("program %d still loaded after Delete", id)
		}
	}
}
