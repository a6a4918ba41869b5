package cgroup

import (
	"errors"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// Linux 6 (host and VM) has every feature; the hybrid host reports its
// v1-bound controllers with the typed error that names the v1 mount.
func TestProbes(t *testing.T) {
	testutil.RequireRoot(t) // the BPF probes need CAP_BPF to tell
	for name, probe := range map[string]func() error{
		"HaveV2": HaveV2, "HaveKill": HaveKill, "HaveDeviceFilter": HaveDeviceFilter, "HaveNetworkLimits": HaveNetworkLimits,
	} {
		if err := probe(); err != nil {
			t.Errorf("%s on Linux 6: %v", name, err)
		}
	}
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "cpu", "pids", "io"} {
		err := HaveController(c)
		var v1 *V1BoundError
		_, bound := h.V1[c]
		switch {
		case bound && !errors.As(err, &v1):
			t.Errorf("HaveController(%s) = %v, want *V1BoundError on this hybrid host", c, err)
		case !bound && err != nil && testutil.InVM():
			t.Errorf("HaveController(%s) in the VM: %v", c, err)
		}
	}
}
