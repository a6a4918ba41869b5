package mount

import "testing"

// This kernel (6.x, host and VM) has every feature the package uses, so
// each probe must say so; a probe that cannot see a feature that is there
// would make callers refuse to work.
func TestProbes(t *testing.T) {
	for name, probe := range map[string]func() error{
		"HaveNewMountAPI": HaveNewMountAPI, "HaveMountSetattr": HaveMountSetattr, "HaveOpenat2": HaveOpenat2,
	} {
		if err := probe(); err != nil {
			t.Errorf("%s on Linux 6: %v", name, err)
		}
	}
}
