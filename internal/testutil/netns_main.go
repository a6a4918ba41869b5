package testutil

import (
	"fmt"
	"os"
	"testing"
)

// RunPreservingNetns runs m's tests between PreserveRunNetns and its
// restore, for a TestMain: os.Exit(testutil.RunPreservingNetns(m)). It
// returns m's exit code, or 1 when the tests passed but /run/netns could
// not be put back (a leak must fail the run).
func RunPreservingNetns(m *testing.M) int {
	restore := PreserveRunNetns()
	code := m.Run()
	if err := restore(); err != nil {
		fmt.Fprintln(os.Stderr, "restoring /run/netns:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
