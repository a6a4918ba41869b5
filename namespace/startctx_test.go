package namespace_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

func TestStartContextFinishes(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &namespace.Cmd{Path: "/bin/true", Namespaces: namespace.Set{namespace.UTS}}
	if err := c.StartContext(ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // bounds only the start: the command runs on
	if st, err := c.Wait(); err != nil || !st.Success() {
		t.Fatalf("command after a started StartContext: %+v %v", st, err)
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	c2 := &namespace.Cmd{Path: "/bin/true"}
	if err := c2.StartContext(done); !errors.Is(err, context.Canceled) || c2.Process != nil {
		t.Fatalf("StartContext on a done context = %v (process %v)", err, c2.Process)
	}
}
