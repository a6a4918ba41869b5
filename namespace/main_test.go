package namespace_test

import (
	"os"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

func TestMain(m *testing.M) {
	namespace.Init()
	testutil.RunHelperIfAsked()
	os.Exit(m.Run())
}
