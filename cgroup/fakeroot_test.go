package cgroup

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeFiles are the control files of a non-root cgroup with kernel
// defaults, enough for every write Apply plans.
var fakeFiles = map[string]string{
	"cgroup.controllers":     "cpuset cpu io memory hugetlb pids\n",
	"cgroup.subtree_control": "\n",
	"cgroup.procs":           "",
	"cgroup.type":            "domain\n",
	"cgroup.events":          "populated 0\nfrozen 0\n",
	"cgroup.max.depth":       "max\n",
	"cgroup.max.descendants": "max\n",
	"cpuset.cpus":            "\n",
	"cpuset.mems":            "\n",
	"cpu.weight":             "100\n",
	"cpu.idle":               "0\n",
	"cpu.max":                "max 100000\n",
	"cpu.max.burst":          "0\n",
	"memory.min":             "0\n",
	"memory.low":             "0\n",
	"memory.high":            "max\n",
	"memory.max":             "max\n",
	"memory.swap.max":        "max\n",
	"memory.oom.group":       "0\n",
	"io.weight":              "default 100\n",
	"io.max":                 "",
	"pids.max":               "max\n",
	"hugetlb.2MB.max":        "max\n",
	"hugetlb.1GB.max":        "max\n",
}

// fakeRoot builds root/parent/child with control files and returns an
// opened child whose writes are logged. Every controller is already enabled
// in root and parent unless enable is false. As in the kernel, the child
// has a controller's files only while parent's cgroup.subtree_control
// enables it: writing "+ctrl" there creates them, "-ctrl" removes them.
type fakeRoot struct {
	h      *Hierarchy
	root   string
	parent string
	cg     *Cgroup
	log    []string // "relative/path=value" in write order
}

func newFakeRoot(t *testing.T, enable bool) *fakeRoot {
	t.Helper()
	root := t.TempDir()
	parent := filepath.Join(root, "parent")
	child := filepath.Join(parent, "child")
	for _, d := range []string{root, parent, child} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range fakeFiles {
			if name == "cgroup.subtree_control" && enable && d != child {
				v = "cpuset cpu io memory hugetlb pids\n"
			}
			if d == child && !enable && fakeController(name) != "cgroup" {
				continue
			}
			if err := os.WriteFile(filepath.Join(d, name), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := &fakeRoot{
		h: &Hierarchy{Root: root, Controllers: strings.Fields(fakeFiles["cgroup.controllers"]),
			V1: map[string]string{}, HugePageSizes: []string{"2MB", "1GB"}},
		root: root, parent: parent,
	}
	cg, err := openAt(f.h, child, parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cg.Close() })
	cg.writeHook = func(path, value string) error {
		rel, _ := filepath.Rel(root, path)
		f.log = append(f.log, rel+"="+value)
		if rel == "parent/cgroup.subtree_control" {
			fakeSubtreeControl(t, child, value)
		}
		return nil
	}
	f.cg = cg
	return f
}

// fakeController returns the controller a control file belongs to
// ("cgroup" for the core files every cgroup has).
func fakeController(file string) string {
	ctl, _, _ := strings.Cut(file, ".")
	return ctl
}

// fakeSubtreeControl makes child's controller files appear and disappear
// as a write of value ("+memory +pids", "-cpu") to its parent's
// cgroup.subtree_control would in the kernel.
func fakeSubtreeControl(t *testing.T, child, value string) {
	for _, tok := range strings.Fields(value) {
		ctl := tok[1:]
		for name, v := range fakeFiles {
			if fakeController(name) != ctl {
				continue
			}
			p := filepath.Join(child, name)
			if tok[0] == '-' {
				os.Remove(p)
			} else if _, err := os.Stat(p); err != nil {
				if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

// snapshotTree returns every file's content under the fake root.
func (f *fakeRoot) snapshotTree(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(f.root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(a, b map[string]string) []string {
	var diff []string
	for k, v := range a {
		if strings.TrimSpace(b[k]) != strings.TrimSpace(v) {
			diff = append(diff, k+": "+v+" -> "+b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, k+": new")
		}
	}
	sort.Strings(diff)
	return diff
}

func (f *fakeRoot) read(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.cg.path, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
