package namespace_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

// The command is born in the cgroup (clone3 CLONE_INTO_CGROUP): its very
// first view of /proc/self/cgroup already names it.
func TestSpawnIntoCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	dir := testutil.TempCgroup(t)
	root := testutil.UnifiedMount()
	rel := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, root), "/")
	for _, byFD := range []bool{false, true} {
		c := &namespace.Cmd{Path: "/bin/cat", Args: []string{"cat", "/proc/self/cgroup"}}
		if byFD {
			f, err := os.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c.CgroupFD = int(f.Fd())
		} else {
			c.CgroupPath = dir
		}
		out := run(t, c)
		if !strings.Contains(out, "0::"+rel+"\n") {
			t.Errorf("byFD=%v: /proc/self/cgroup:\n%s\nwant 0::%s", byFD, out, rel)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(b) != 0 {
		t.Errorf("cgroup still populated: %s", b)
	}
}

// TestVMOOMKilled needs the memory controller (VM tier): Wait reports the
// cgroup's OOM kill.
func TestVMOOMKilled(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireController(t, "memory")
	dir := testutil.TempCgroup(t)
	for _, f := range []string{"memory.max", "memory.swap.max"} {
		v := "16M"
		if f == "memory.swap.max" {
			v = "0"
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0); err != nil && f == "memory.max" {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &namespace.Cmd{Path: exe, Args: []string{exe, "64"}, Env: []string{testutil.EnvHelper + "=alloc"},
		CgroupPath: dir, Namespaces: namespace.Set{namespace.PID, namespace.MNT}}
	st, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !st.OOMKilled || st.Signal != 9 {
		t.Errorf("state %+v, want OOM-killed by SIGKILL", st)
	}
	ok := &namespace.Cmd{Path: exe, Args: []string{exe, "1"}, Env: []string{testutil.EnvHelper + "=alloc"}, CgroupPath: dir}
	if st, err := ok.Run(); err != nil || st.OOMKilled || !st.Success() {
		t.Errorf("small allocation: %+v %v", st, err)
	}
}
