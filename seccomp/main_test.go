package seccomp

import (
	"os"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.RegisterHelper("seccomp-probe", helperProbe)
	testutil.RegisterHelper("seccomp-tsync", helperTSYNC)
	testutil.RegisterHelper("seccomp-kill", helperKill)
	testutil.RegisterHelper("seccomp-notify", helperNotify)
	testutil.RunHelperIfAsked()
	os.Exit(m.Run())
}
