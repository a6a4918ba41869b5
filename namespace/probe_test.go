package namespace

import (
	"errors"
	"testing"
)

// Linux 6 (host and VM) has every kind and feature the package uses.
func TestProbes(t *testing.T) {
	for _, k := range All() {
		if err := HaveKind(k); err != nil {
			t.Errorf("HaveKind(%s): %v", k, err)
		}
	}
	if err := HaveSpawn(); err != nil {
		t.Errorf("HaveSpawn: %v", err)
	}
	if err := HaveCloneIntoCgroup(); err != nil {
		t.Errorf("HaveCloneIntoCgroup: %v", err)
	}
	var ie *InvalidError
	if err := HaveKind(Kind(42)); !errors.As(err, &ie) {
		t.Errorf("HaveKind(42) = %v, want *InvalidError", err)
	}
}
