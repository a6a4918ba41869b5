package cgroup

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUnifiedDecisions is Resources.Unified's contract, one row per
// decision: runc names the runc behaviour the row matches (v1.1/v1.2
// libcontainer/cgroups/fs2/fs2.go setUnified and Manager.Set,
// libcontainer/cgroups/systemd/v2.go unifiedResToSystemdProps,
// libcontainer/configs/validate/validator.go cgroupsCheck, the
// runtime-spec's config-linux.md "Unified"), or says "differs:" and why.
func TestUnifiedDecisions(t *testing.T) {
	u := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const c = "parent/child/"
	tests := []struct {
		name string
		runc string
		r    Resources
		// enable false: the child has no controller files yet, the
		// boundary is the fake root (controllers get enabled).
		enable bool
		writes []string // the exact writes, when the Apply succeeds
		field  string   // the *InvalidError's Field, when refused
		ctrl   string   // the *ControllerError's or *V1BoundError's controller
	}{
		{name: "a key is written as given",
			runc: "setUnified: WriteFile(dirPath, key, value); spec: configuration unknown to the runtime MUST still be written",
			r:    Resources{Unified: u("pids.max", "2")}, enable: true,
			writes: []string{c + "pids.max=2"}},
		{name: "after every typed field",
			runc: "Manager.Set calls setUnified after setPids, setMemory, setIo, setCpu, ...",
			r:    Resources{Unified: u("cpu.weight", "7"), Memory: &Memory{High: 1 << 20}}, enable: true,
			writes: []string{c + "memory.high=1048576", c + "cpu.weight=7"}},
		{name: "unified wins over a typed field, which is not written first",
			runc: "differs: runc writes pids.max=100, then 2; the end is the same, but passing through a typed memory.max could reclaim or OOM-kill",
			r:    Resources{Unified: u("pids.max", "2"), Pids: &Pids{Max: 100}, Memory: &Memory{Max: 1 << 20}}, enable: true,
			writes: []string{c + "memory.max=1048576", c + "pids.max=2"}},
		{name: "io.max lines merge with typed ones",
			runc:   "Manager.Set: setIo writes the typed line, setUnified its own later; the kernel merges per-device lines",
			r:      Resources{Unified: u("io.max", "8:0 wbps=2"), IO: &IO{Weight: 50, Devices: []IODevice{{Major: 8, Rbps: 1}}}},
			enable: true,
			writes: []string{c + "io.weight=default 50", c + "io.max=8:0 rbps=1", c + "io.max=8:0 wbps=2"}},
		{name: "a multi-line value is written line by line",
			runc: "v1.2 WriteFileByLine (commit 771903608): io.max takes one device per write",
			r:    Resources{Unified: u("io.max", "7:0 rbps=1\n8:0 wbps=2\n")}, enable: true,
			writes: []string{c + "io.max=7:0 rbps=1", c + "io.max=8:0 wbps=2"}},
		{name: "an empty value writes nothing",
			runc: "WriteFile of \"\" is a zero-length write(2), which changes nothing (the typed value stays)",
			r:    Resources{Unified: u("pids.max", "", "memory.high", "\n"), Pids: &Pids{Max: 5}}, enable: true,
			writes: []string{c + "pids.max=5"}},
		{name: "keys in sorted order",
			runc: "differs: runc ranges over a Go map (random order); sorted makes errors and rollback reproducible",
			r:    Resources{Unified: u("pids.max", "3", "memory.max", "max", "cpu.weight", "9")}, enable: true,
			writes: []string{c + "cpu.weight=9", c + "memory.max=max", c + "pids.max=3"}},
		{name: "the controller is enabled like a typed field's",
			runc:   "spec: the runtime MUST ensure that the needed controllers are enabled (runc enables all at creation)",
			r:      Resources{Unified: u("pids.max", "2")},
			writes: []string{"cgroup.subtree_control=+pids", "parent/cgroup.subtree_control=+pids", c + "pids.max=2"}},
		{name: "cgroup.* limits need no controller",
			runc:   `setUnified: controller "cgroup" is always available`,
			r:      Resources{Unified: u("cgroup.max.descendants", "4", "cgroup.max.depth", "1")},
			writes: []string{c + "cgroup.max.depth=1", c + "cgroup.max.descendants=4"}},
		{name: "slash",
			runc:  `setUnified and the systemd driver: "must be a file name (no slashes)"`,
			r:     Resources{Unified: u("../pids.max", "1")},
			field: `Unified["../pids.max"]`},
		{name: "no dot",
			runc:  `setUnified (after a failed write) and the systemd driver (before): "must be in the form CONTROLLER.PARAMETER"`,
			r:     Resources{Unified: u("pidsmax", "1")},
			field: `Unified["pidsmax"]`},
		{name: "empty controller",
			runc:  "systemd driver: strings.IndexByte(k, '.') <= 0 is refused",
			r:     Resources{Unified: u(".max", "1")},
			field: `Unified[".max"]`},
		{name: "not a file name",
			runc:  "differs: runc fails at open (ENOENT); refused before any write here",
			r:     Resources{Unified: u("memory.max ", "1", "pids.max", "2")},
			field: `Unified["memory.max "]`},
		{name: "cgroup.procs",
			runc:  "differs: runc writes any cgroup.* key; moving processes is AddProcess's job",
			r:     Resources{Unified: u("cgroup.procs", "1")},
			field: `Unified["cgroup.procs"]`},
		{name: "cgroup.kill",
			runc:  "differs: an act that cannot be rolled back (Kill)",
			r:     Resources{Unified: u("cgroup.kill", "1")},
			field: `Unified["cgroup.kill"]`},
		{name: "cgroup.subtree_control",
			runc:  "differs: Apply enables controllers itself and undoes what it enabled",
			r:     Resources{Unified: u("cgroup.subtree_control", "+memory")},
			field: `Unified["cgroup.subtree_control"]`},
		{name: "PSI trigger",
			runc:  "differs: runc writes it; the trigger dies with the fd Apply closes",
			r:     Resources{Unified: u("memory.pressure", "some 150000 1000000")},
			field: `Unified["memory.pressure"]`},
		{name: "NUL in the value",
			runc:  "differs: runc writes it; the kernel would stop reading at the NUL",
			r:     Resources{Unified: u("pids.max", "5\x00junk")},
			field: `Unified["pids.max"]`},
		{name: "a bad key after good typed fields",
			runc:  "differs: runc has written the typed fields when setUnified fails; nothing is written here",
			r:     Resources{Pids: &Pids{Max: 3}, Unified: u("a/b", "1")},
			field: `Unified["a/b"]`},
		{name: "controller not available",
			runc: `setUnified: "unified resource %q can't be set: controller %q not available" (after the write failed)`,
			r:    Resources{Pids: &Pids{Max: 3}, Unified: u("rdma.max", "mlx4_0 hca_handle=2")},
			ctrl: "rdma"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Logf("runc: %s", tt.runc)
			f := newFakeRoot(t, tt.enable)
			if !tt.enable {
				f.cg.boundary = f.root
			}
			before := f.snapshotTree(t)
			err := f.cg.Apply(tt.r)
			switch {
			case tt.writes != nil:
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(f.log, tt.writes) {
					t.Fatalf("writes:\n%q\nwant:\n%q", f.log, tt.writes)
				}
				return
			case tt.field != "":
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Field != tt.field {
					t.Fatalf("Apply: %v, want an *InvalidError for %s", err, tt.field)
				}
			default:
				var ce *ControllerError
				if !errors.As(err, &ce) || ce.Controller != tt.ctrl || !errors.Is(err, ErrNotSupported) {
					t.Fatalf("Apply: %v, want a *ControllerError for %s", err, tt.ctrl)
				}
			}
			if len(f.log) != 0 {
				t.Errorf("wrote %q", f.log)
			}
			if d := diffTrees(before, f.snapshotTree(t)); len(d) != 0 {
				t.Errorf("files changed: %q", d)
			}
		})
	}
}

// runc refuses Unified unless the whole host is cgroup v2 (cgroupsCheck:
// ErrV1NoUnified, "invalid configuration: cannot use unified on cgroup
// v1"). confine uses a hybrid host's unified hierarchy for the typed
// fields, so Unified keys are judged per controller there too: one bound
// to v1 is a *V1BoundError, one the v2 root offers is written.
func TestUnifiedHybridHost(t *testing.T) {
	f := newFakeRoot(t, true)
	f.h.Controllers = []string{"hugetlb"}
	f.h.V1 = map[string]string{"pids": "/sys/fs/cgroup/pids", "memory": ""}
	err := f.cg.Apply(Resources{Unified: map[string]string{"hugetlb.2MB.max": "0", "pids.max": "2"}})
	var v1 *V1BoundError
	if !errors.As(err, &v1) || v1.Controller != "pids" || len(f.log) != 0 {
		t.Fatalf("Apply: %v (wrote %q), want a *V1BoundError for pids and no write", err, f.log)
	}
	if err := f.cg.Apply(Resources{Unified: map[string]string{"hugetlb.2MB.max": "0", "cgroup.max.depth": "2"}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"parent/child/cgroup.max.depth=2", "parent/child/hugetlb.2MB.max=0"}; !slices.Equal(f.log, want) {
		t.Errorf("writes %q, want %q", f.log, want)
	}
}

// A refused unified write rolls back what the Apply wrote before it,
// typed fields and unified keys alike; keyed files get their line back.
func TestUnifiedRollsBack(t *testing.T) {
	f := newFakeRoot(t, true)
	writeFileT(t, f.cg.path, "io.max", "8:0 rbps=7 wbps=max riops=max wiops=max\n")
	before := f.snapshotTree(t)
	hook := f.cg.writeHook
	f.cg.writeHook = func(path, value string) error {
		if err := hook(path, value); err != nil {
			return err
		}
		if strings.HasSuffix(path, "/pids.max") && value == "-1" {
			return unix.EINVAL
		}
		return nil
	}
	err := f.cg.Apply(Resources{Memory: &Memory{Max: 1 << 20},
		Unified: map[string]string{"io.max": "8:0 rbps=1", "memory.high": "2M", "pids.max": "-1"}})
	var se *StepError
	if !errors.Is(err, unix.EINVAL) || !errors.As(err, &se) || se.Value != "-1" {
		t.Fatalf("Apply: %v, want the refused pids.max write", err)
	}
	restored := f.log[len(f.log)-3:]
	if want := []string{"parent/child/memory.high=max", "parent/child/io.max=8:0 rbps=7 wbps=max riops=max wiops=max",
		"parent/child/memory.max=max"}; !slices.Equal(restored, want) {
		t.Errorf("rollback wrote %q, want %q", restored, want)
	}
	// The refused file is left out: the fake's O_TRUNC emptied it, where
	// the kernel leaves a file whose write it refuses as it was.
	after := f.snapshotTree(t)
	delete(before, f.cg.path+"/pids.max")
	delete(after, f.cg.path+"/pids.max")
	if d := diffTrees(before, after); len(d) != 0 {
		t.Errorf("files changed: %q", d)
	}
}

// The value a keyed file's write restores is its key's old line, or the
// file's reset line when the key had none.
func TestUnifiedKeyedOldValues(t *testing.T) {
	f := newFakeRoot(t, true)
	writeFileT(t, f.cg.path, "io.weight", "default 100\n8:0 200\n")
	ws, err := (&Resources{Unified: map[string]string{"io.weight": "50\n8:0 300\n8:16 400", "io.max": "9:0 rbps=1"}}).plan(f.h)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range ws {
		v, err := f.cg.oldValue(w)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, w.file+": "+v)
	}
	want := []string{"io.max: 9:0 rbps=max wbps=max riops=max wiops=max",
		"io.weight: default 100", "io.weight: 8:0 200", "io.weight: 8:16 default"}
	if !slices.Equal(got, want) {
		t.Errorf("old values\n%q\nwant\n%q", got, want)
	}
}

func TestUnifiedErrorMessage(t *testing.T) {
	f := newFakeRoot(t, true)
	err := f.cg.Apply(Resources{Unified: map[string]string{"pids/max": "5"}})
	if want := `cgroup: Unified["pids/max"]: "5": key must be a file name (no slashes)`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// unifiedKeyRef is the key grammar written as a regular expression: the
// reference FuzzUnifiedEntry holds unifiedController to.
var unifiedKeyRef = regexp.MustCompile(`^[a-z0-9_]+\.[A-Za-z0-9_-]([A-Za-z0-9_.-]*[A-Za-z0-9_-])?$`)

func unifiedRef(key, value string) bool {
	switch {
	case !unifiedKeyRef.MatchString(key), strings.Contains(value, "\x00"):
		return false
	case strings.HasPrefix(key, "cgroup."):
		return key == "cgroup.max.descendants" || key == "cgroup.max.depth" || key == "cgroup.pressure"
	}
	return !strings.HasSuffix(key, ".pressure") || strings.Count(key, ".") > 1
}

func FuzzUnifiedEntry(f *testing.F) {
	for _, kv := range [][2]string{{"pids.max", "2"}, {"io.max", "8:0 rbps=1\n\n7:0 wbps=max\n"}, {"io.weight", "50\n8:0 7"},
		{"cgroup.procs", "1"}, {"a/b", ""}, {".x", "1"}, {"x.", "1"}, {"memory.pressure", "some 1 2"},
		{"hugetlb.2MB.rsvd.max", "0"}, {"pids.max", "1\x002"}, {"cgroup.max.depth", "\n"}, {"io.max", "  \t"}} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		err := checkUnified(key, value)
		if ok := unifiedRef(key, value); ok != (err == nil) {
			t.Fatalf("checkUnified(%q, %q) = %v, reference says accepted=%v", key, value, err, ok)
		}
		var ie *InvalidError
		if err != nil && (!errors.As(err, &ie) || ie.Field != unifiedField(key) || ie.Value != value) {
			t.Fatalf("checkUnified(%q, %q): %v, want an *InvalidError naming key and value", key, value, err)
		}
		if err != nil {
			return
		}
		ws := appendUnified(nil, key, value)
		var lines []string
		for l := range strings.SplitSeq(value, "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
		if len(ws) != len(lines) || hasLine(value) != (len(ws) > 0) {
			t.Fatalf("%q: %d writes for %d lines", value, len(ws), len(lines))
		}
		ctrl, _, _ := strings.Cut(key, ".")
		if ctrl == "cgroup" {
			ctrl = ""
		}
		for i, w := range ws {
			if w.file != key || w.value != lines[i] || w.ctrl != ctrl {
				t.Fatalf("write %d of %q=%q: %+v", i, key, value, w)
			}
			if _, keyed := keyedFiles[key]; keyed != (w.dev != "") && strings.TrimSpace(w.value) != "" {
				t.Fatalf("write %d of %q=%q: key %q", i, key, value, w.dev)
			}
		}
	})
}
