package namespace_test

import (
	"os/exec"
	"strconv"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

// BenchmarkEnter starts and reaps /bin/true inside a running sandbox (six
// namespaces, a busybox root, a cgroup), with nsenter(1) entering the same
// namespaces in the same run, and starting a whole new sandbox of the same
// kind (Cmd with Namespaces and Root) as the baseline. nsenter does less:
// it neither joins the cgroup nor drops privileges.
func BenchmarkEnter(b *testing.B) {
	testutil.RequireRoot(b)
	s := startSandbox(b, nil)
	b.Run("confine", func(b *testing.B) {
		measure(b, func() error {
			_, err := (&namespace.Cmd{Path: "/bin/true", Sandbox: s.sb, Env: []string{}}).Run()
			return err
		})
	})
	b.Run("nsenter", func(b *testing.B) {
		if _, err := exec.LookPath("nsenter"); err != nil {
			b.Skip("nsenter not installed")
		}
		pid := strconv.Itoa(s.init.Pid())
		measure(b, func() error {
			return exec.Command("nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "/bin/true").Run()
		})
	})
	b.Run("new-sandbox", func(b *testing.B) {
		measure(b, func() error {
			c := &namespace.Cmd{Path: "/bin/true", Namespaces: sandboxNS, CgroupPath: s.cg, Env: []string{},
				Root: s.init.Root}
			_, err := c.Run()
			return err
		})
	})
}
