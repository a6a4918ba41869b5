package devfilter

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/confinelab/confine/internal/testutil"
)

// TestVMLinkTransitions walks the attachment states a manager meets: a
// legacy program (bpffs was missing before), a new pinned link replacing
// it, an in-place update, a defunct pinned link, and Detach. After every
// step exactly one program is attached and it is the newest one.
func TestVMLinkTransitions(t *testing.T) {
	testutil.RequireVM(t)
	testutil.CheckLeaks(t)
	cg := testutil.TempCgroup(t)
	pinDir, err := os.MkdirTemp("/sys/fs/bpf", "devfilter-test-")
	if err != nil {
		testutil.Skip(t, "no bpffs at /sys/fs/bpf: %v", err)
	}
	defer os.RemoveAll(pinDir)
	pin := pinDir + "/devices"

	attach := func(minor int64, pinPath string) ebpf.ProgramID {
		t.Helper()
		prog, err := Load([]Rule{null, {Type: TypeChar, Major: 1, Minor: minor, Access: AccAll}})
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		if err := Attach(cg, prog, pinPath); err != nil {
			t.Fatalf("attach (pin %q): %v", pinPath, err)
		}
		info, _ := prog.Info()
		id, _ := info.ID()
		ids, err := Attached(cg)
		if err != nil || len(ids) != 1 || ids[0] != id {
			t.Fatalf("attached %v (%v), want only %d", ids, err, id)
		}
		return id
	}
	attach(5, "")  // legacy
	attach(5, pin) // link replaces legacy
	attach(7, pin) // in-place update
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Detach(); err != nil { // now defunct, still pinned
		t.Fatal(err)
	}
	l.Close()
	attach(3, pin) // replaces the defunct pin
	if got := runAccess(t, cg, []string{"r:/dev/null", "r:/dev/zero"}); got[0] != "EPERM" || got[1] != "EPERM" {
		t.Fatalf("deny 1:3 after allow 1:3 / zero unlisted: got %v, want EPERM EPERM", got)
	}
	if err := Detach(cg, pin); err != nil {
		t.Fatal(err)
	}
	if ids, _ := Attached(cg); len(ids) != 0 {
		t.Fatalf("%d programs after Detach", len(ids))
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Fatalf("pin left: %v", err)
	}
}
