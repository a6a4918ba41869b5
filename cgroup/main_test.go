package cgroup

import (
	"os"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// TestMain lets the test binary be re-executed as a helper child
// (testutil.HelperCommand). Every test file of the package shares it.
func TestMain(m *testing.M) {
	testutil.RunHelperIfAsked()
	os.Exit(m.Run())
}
