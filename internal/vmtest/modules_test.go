package vmtest

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

func TestParseModinfoDepends(t *testing.T) {
	info := []byte("license=GPL\x00depends=configfs,some-mod\x00retpoline=Y\x00name=null_blk\x00")
	if got := ParseModinfoDepends(info); !slices.Equal(got, []string{"configfs", "some_mod"}) {
		t.Errorf("got %q", got)
	}
	if got := ParseModinfoDepends([]byte("depends=\x00")); len(got) != 0 {
		t.Errorf("empty depends gave %q", got)
	}
	if got := ParseModinfoDepends(nil); got != nil {
		t.Errorf("nil gave %q", got)
	}
}

func FuzzParseModinfoDepends(f *testing.F) {
	f.Add([]byte("depends=a,b\x00"))
	f.Add([]byte("x\x00depends=\x00depends=c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range ParseModinfoDepends(b) {
			if d == "" || strings.ContainsAny(d, ",-\x00") {
				t.Fatalf("bad name %q", d)
			}
		}
	})
}

func TestModulesDep(t *testing.T) {
	mods := []*Module{
		{Name: "a", Path: "kernel/a.ko", Depends: []string{"b"}},
		{Name: "b", Path: "kernel/b.ko", Depends: []string{"c"}},
		{Name: "c", Path: "kernel/c.ko"},
	}
	want := "kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\n"
	if got := string(ModulesDep(mods)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// bridge's case: a direct dependency (llc) that another direct one
	// (stp) needs is listed after it, so modprobe, loading from the end,
	// loads llc first.
	mods = []*Module{
		{Name: "bridge", Path: "net/bridge.ko", Depends: []string{"llc", "stp"}},
		{Name: "llc", Path: "net/llc.ko"},
		{Name: "stp", Path: "net/stp.ko", Depends: []string{"llc"}},
	}
	want = "net/bridge.ko: net/stp.ko net/llc.ko\nnet/llc.ko:\nnet/stp.ko: net/llc.ko\n"
	if got := string(ModulesDep(mods)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestModuleClosureKernel checks the dependency walk on the provisioned
// kernel, when there is one (null_blk needs configfs there).
func TestModuleClosureKernel(t *testing.T) {
	k, err := FindKernel(CacheDir())
	if err != nil {
		testutil.Skip(t, "no provisioned kernel: %v", err)
	}
	all, err := ScanModules(k.Modules)
	if err != nil {
		t.Fatal(err)
	}
	order, missing, err := ModuleClosure(k.Modules, all, append([]string{"no_such_module"}, RequiredModules...))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"no_such_module"}) {
		t.Errorf("missing %q", missing)
	}
	pos := map[string]int{}
	for i, m := range order {
		pos[m.Name] = i
	}
	for _, m := range order {
		for _, d := range m.Depends {
			if p, ok := pos[d]; !ok || p > pos[m.Name] {
				t.Errorf("%s depends on %s, which is not loaded before it", m.Name, d)
			}
		}
	}
	if _, err := os.Stat(k.Image); err != nil {
		t.Error(err)
	}
}
