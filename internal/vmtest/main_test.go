package vmtest_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.RegisterHelper("nsinodes", helperNSInodes)
	testutil.RunHelperIfAsked()
	code := m.Run()
	cleanupFixture()
	os.Exit(code)
}

// namespaceKinds are the namespaces TestHostNamespacesDiffer creates.
var namespaceKinds = []string{"pid", "net", "ipc", "mnt", "uts"}

// helperNSInodes prints "kind link" for each namespace of the process
// itself, plus the user namespace it does not leave.
func helperNSInodes(args []string) int {
	for _, k := range append(namespaceKinds, "user") {
		link, err := os.Readlink("/proc/self/ns/" + k)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(k, link)
	}
	return 0
}
