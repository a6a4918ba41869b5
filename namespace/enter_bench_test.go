package namespace_test

import (
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

// BenchmarkEnter starts and reaps /bin/true inside a running sandbox (six
// namespaces, a busybox root, a cgroup), interleaved with nsenter(1)
// entering the same namespaces and with starting a whole new sandbox of
// the same kind (Cmd with Namespaces and Root), so that a busy host slows
// all three alike. nsenter does less: it neither joins the cgroup nor
// drops privileges. It reports each one's median and confine's ratio to
// the other two.
func BenchmarkEnter(b *testing.B) {
	testutil.RequireRoot(b)
	s := startSandbox(b, nil)
	pid := strconv.Itoa(s.init.Pid())
	runs := []testutil.Run{
		{Name: "confine", Once: func() error {
			_, err := (&namespace.Cmd{Path: "/bin/true", Sandbox: s.sb, Env: []string{}}).Run()
			return err
		}},
		{Name: "nsenter", Once: func() error {
			return exec.Command("nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "/bin/true").Run()
		}},
		{Name: "new-sandbox", Once: func() error {
			c := &namespace.Cmd{Path: "/bin/true", Namespaces: sandboxNS, CgroupPath: s.cg, Env: []string{}, Root: s.init.Root}
			_, err := c.Run()
			return err
		}},
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		runs = slices.Delete(runs, 1, 2)
	}
	testutil.Interleave(b, runs)
}
