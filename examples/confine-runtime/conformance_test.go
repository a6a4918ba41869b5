package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/confinelab/confine/internal/ocisuite"
	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/internal/vmtest"
)

// The OCI conformance suite: runtime-tools v0.9.0's 58 validation
// programs, each run against this runtime and judged by its TAP output
// (see internal/ocisuite). `make conformance` runs TestVMConformance in the
// VM and prints the per-program table.

// verdictKind is what the table expects of a program.
type verdictKind int

const (
	// mustPass: the program passes entirely (every point ok, exit 0).
	mustPass verdictKind = iota
	// testBug: the v0.9.0 program is wrong; the reason cites it.
	testBug
	// hostMissing: the test bed lacks what the program needs.
	hostMissing
	// cgroupV1: the program reads cgroup v1 files; on a cgroup v2 host
	// it cannot pass, by design.
	cgroupV1
)

func (k verdictKind) String() string {
	return [...]string{"must pass", "test bug", "host lacks", "cgroup v1"}[k]
}

type verdict struct {
	kind   verdictKind
	reason string
}

// rtt cites runtime-tools v0.9.0's source.
const rtt = "runtime-tools v0.9.0 "

// cgroupV1Reason is why the 16 linux_cgroups_* programs cannot pass.
const cgroupV1Reason = "reads the limits back through cgroups.FindCgroup, which finds only v1 " +
	"hierarchies and returns \"cgroupv2 is not supported yet\" (" + rtt + "cgroups/cgroups.go:73)"

// conformance is the expected outcome of every program of the suite.
var conformance = map[string]verdict{
	"config_updates_without_affect":  {mustPass, ""},
	"create":                         {mustPass, ""},
	"default":                        {mustPass, ""},
	"delete":                         {mustPass, ""},
	"hooks":                          {mustPass, ""},
	"hooks_stdin":                    {mustPass, ""},
	"hostname":                       {mustPass, ""},
	"kill":                           {mustPass, ""},
	"kill_no_effect":                 {mustPass, ""},
	"killsig":                        {mustPass, ""},
	"linux_devices":                  {mustPass, ""},
	"linux_masked_paths":             {mustPass, ""},
	"linux_mount_label":              {mustPass, ""},
	"linux_ns_itype":                 {mustPass, ""},
	"linux_ns_nopath":                {mustPass, ""},
	"linux_ns_path":                  {mustPass, ""},
	"linux_ns_path_type":             {mustPass, ""},
	"linux_process_apparmor_profile": {mustPass, ""},
	"linux_readonly_paths":           {mustPass, ""},
	"linux_rootfs_propagation":       {mustPass, ""},
	"linux_seccomp":                  {mustPass, ""},
	"linux_sysctl":                   {mustPass, ""},
	"linux_uid_mappings":             {mustPass, ""},
	"misc_props":                     {mustPass, ""},
	"mounts":                         {mustPass, ""},
	"pidfile":                        {mustPass, ""},
	"poststart":                      {mustPass, ""},
	"poststart_fail":                 {mustPass, ""},
	"poststop":                       {mustPass, ""},
	"poststop_fail":                  {mustPass, ""},
	"prestart":                       {mustPass, ""},
	"prestart_fail":                  {mustPass, ""},
	"process":                        {mustPass, ""},
	"process_capabilities":           {mustPass, ""},
	"process_capabilities_fail":      {mustPass, ""},
	"process_oom_score_adj":          {mustPass, ""},
	"process_rlimits":                {mustPass, ""},
	"process_rlimits_fail":           {mustPass, ""},
	"process_user":                   {mustPass, ""},
	"root_readonly_true":             {mustPass, ""},
	"start":                          {mustPass, ""},
	"state":                          {mustPass, ""},

	"delete_only_create_resources": {cgroupV1, "makes /sys/fs/cgroup/pids/cgrouptest and writes the container's pid " +
		"to its v1 tasks file (delete_only_create_resources.go:25,65)"},
	"delete_resources": {cgroupV1, "checks pids.max through v1 files, then that /sys/fs/cgroup/pids/cgrouptest " +
		"is gone (delete_resources.go:62,79)"},
	"linux_cgroups_blkio":            {cgroupV1, cgroupV1Reason},
	"linux_cgroups_cpus":             {cgroupV1, cgroupV1Reason},
	"linux_cgroups_devices":          {cgroupV1, cgroupV1Reason},
	"linux_cgroups_hugetlb":          {cgroupV1, cgroupV1Reason},
	"linux_cgroups_memory":           {cgroupV1, cgroupV1Reason},
	"linux_cgroups_network":          {cgroupV1, cgroupV1Reason},
	"linux_cgroups_pids":             {cgroupV1, cgroupV1Reason},
	"linux_cgroups_relative_blkio":   {cgroupV1, cgroupV1Reason},
	"linux_cgroups_relative_cpus":    {cgroupV1, cgroupV1Reason},
	"linux_cgroups_relative_devices": {cgroupV1, cgroupV1Reason},
	"linux_cgroups_relative_hugetlb": {cgroupV1, cgroupV1Reason},
	"linux_cgroups_relative_memory":  {cgroupV1, cgroupV1Reason},
	"linux_cgroups_relative_network": {cgroupV1, cgroupV1Reason},
	"linux_cgroups_relative_pids":    {cgroupV1, cgroupV1Reason},
}

// envSuite names the built suite's directory (make oci-suite prints it;
// make conformance and make test-vm set it and ship it into the VM).
const envSuite = "CONFINE_OCI_SUITE"

// TestVMConformance runs the suite in the VM, a pure cgroup v2 host.
func TestVMConformance(t *testing.T) {
	testutil.RequireVM(t)
	testutil.RequireRoot(t)
	dir := os.Getenv(envSuite)
	if dir == "" {
		t.Fatalf("%s is not set: the VM cannot build the suite (no network, no Go); "+
			"run `make conformance` or `make test-vm`, which build it on the host and ship it", envSuite)
	}
	s, err := ocisuite.Open(dir)
	if err != nil {
		t.Fatalf("%v (was it shipped? make sets CONFINE_VM_FILES=$%s)", err, envSuite)
	}
	runConformance(t, s, true)
}

// TestConformance runs the suite on the host (tier 2), building it into
// the test bed's cache first when $CONFINE_OCI_SUITE is unset (that needs
// the Go module proxy, once).
func TestConformance(t *testing.T) {
	testutil.RequireRoot(t)
	if testutil.InVM() {
		t.Skip("the VM runs TestVMConformance")
	}
	if testing.Short() {
		t.Skip("-short: the suite takes minutes (make conformance runs it in the VM)")
	}
	testutil.RequireCommand(t, "tar")
	testutil.RequireCommand(t, "unshare")
	dir := os.Getenv(envSuite)
	if dir == "" {
		testutil.RequireCommand(t, "go")
		dir = ocisuite.DefaultDir(vmtest.CacheDir())
	}
	var log strings.Builder
	s, err := ocisuite.Build(context.Background(), dir, &log)
	t.Log(strings.TrimSpace(log.String()))
	if err != nil {
		t.Fatal(err)
	}
	// The cgroup v1 programs would read (and delete_only_create_resources
	// write) the hybrid host's own v1 hierarchies: they run in the VM only.
	runConformance(t, s, false)
}

// row is one program's line of the table.
type row struct {
	res ocisuite.Result
	v   verdict
}

// runConformance runs every program of s (the cgroup v1 ones only when
// withV1) and judges it against the table.
func runConformance(t *testing.T, s *ocisuite.Suite, withV1 bool) {
	checkTable(t, s.Programs)
	root := stateRoot(t)
	runtime := runtimeWrapper(t, root)
	work := workDir(t)
	before := runtimeCgroups()
	var rows []row
	for _, p := range s.Programs {
		v := conformance[p]
		if v.kind == cgroupV1 && !withV1 {
			continue
		}
		t.Run(p, func(t *testing.T) {
			dir := filepath.Join(work, p)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			res := s.Run(ctx, p, runtime, dir, []string{envAsRuntime + "=1", "GORACE=atexit_sleep_ms=0"})
			rows = append(rows, row{res, v})
			judge(t, res, v)
			leftovers(t, root, v)
		})
	}
	t.Log("\n" + table(rows))
	for _, cg := range runtimeCgroups() {
		if !slices.Contains(before, cg) {
			t.Errorf("cgroup left by the suite's containers: %s", cg)
		}
	}
}

// workDir is where the programs run and put their bundles: world-readable
// (t.TempDir's mode 0700 would keep the root of a user namespace, as
// linux_uid_mappings makes, out of its own rootfs), removed afterwards.
func workDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "oci-conformance-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// leftovers fails a program that must pass if a container is left in
// root (a program that fails may exit before deleting what it created),
// and deletes what is left so the next program starts clean.
func leftovers(t *testing.T, root string, v verdict) {
	t.Helper()
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if v.kind == mustPass {
			t.Errorf("container %s left in --root", e.Name())
		}
		if r := rt(t, root, "delete", "--force", e.Name()); r.code != 0 {
			t.Errorf("delete --force %s: exit %d: %s", e.Name(), r.code, r.stderr)
		}
	}
}

// checkTable fails unless the table names exactly the suite's programs.
func checkTable(t *testing.T, programs []string) {
	t.Helper()
	for _, p := range programs {
		if _, ok := conformance[p]; !ok {
			t.Errorf("program %s is not in the conformance table", p)
		}
	}
	for p := range conformance {
		if !slices.Contains(programs, p) {
			t.Errorf("the conformance table names %s, which the suite lacks", p)
		}
	}
}

// judge checks one program against its verdict.
func judge(t *testing.T, res ocisuite.Result, v verdict) {
	t.Helper()
	problem := res.Problem()
	switch {
	case v.kind == mustPass && problem != "":
		t.Errorf("%s\n%s", problem, excerpt(res))
	case v.kind != mustPass && problem == "":
		t.Errorf("passes, but the table says %s (%s): update the table", v.kind, v.reason)
	case v.kind != mustPass:
		t.Logf("fails as expected (%s): %s\n%s", v.kind, problem, excerpt(res))
	}
	if len(res.Strays) > 0 && v.kind == mustPass {
		t.Errorf("left processes behind: %s", strings.Join(res.Strays, ", "))
	}
}

// excerpt is what explains a failure, bounded (a TAP stream can hold
// hundreds of points and whole nested streams).
func excerpt(res ocisuite.Result) string {
	var b strings.Builder
	for i, f := range res.TAP.Failed {
		if i == 10 {
			fmt.Fprintf(&b, "  ... %d more\n", len(res.TAP.Failed)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", f)
	}
	for _, e := range res.TAP.Errors {
		fmt.Fprintf(&b, "  error: %s\n", bound(e, 400))
	}
	if len(res.Stderr) > 0 {
		fmt.Fprintf(&b, "  stderr: %s\n", bound(string(res.Stderr), 1200))
	}
	return b.String()
}

func bound(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// table renders the per-program table and the totals, the cgroup v1
// programs apart (issue 17 compares the other 42 with runc 1.1.5).
func table(rows []row) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintln(w, "program\tok\tnot ok\tskip\ttime\tresult\tverdict")
	type total struct{ programs, passed, ok, points int }
	var main, v1 total
	slices.SortFunc(rows, func(a, b row) int {
		if av, bv := a.v.kind == cgroupV1, b.v.kind == cgroupV1; av != bv {
			return map[bool]int{true: 1, false: -1}[av]
		}
		return strings.Compare(a.res.Program, b.res.Program)
	})
	for _, r := range rows {
		s := &r.res.TAP
		result := "pass"
		if p := r.res.Problem(); p != "" {
			result = "FAIL: " + bound(p, 70)
		}
		verdict := r.v.kind.String()
		if r.v.reason != "" && r.v.kind != cgroupV1 {
			verdict += ": " + r.v.reason
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.1fs\t%s\t%s\n", r.res.Program, s.OK(), s.Fail, s.Skip,
			r.res.Elapsed.Seconds(), result, verdict)
		tot := &main
		if r.v.kind == cgroupV1 {
			tot = &v1
		}
		tot.programs++
		tot.ok += s.OK()
		tot.points += s.Points
		if r.res.Problem() == "" {
			tot.passed++
		}
	}
	w.Flush()
	fmt.Fprintf(&b, "\n%d of %d programs that do not read cgroup v1 files pass, %d of %d TAP points ok "+
		"(runc 1.1.5 on the same kind of host: 25 of 42, 2,928 of 3,347)\n", main.passed, main.programs, main.ok, main.points)
	if v1.programs > 0 {
		fmt.Fprintf(&b, "cgroup v1 programs (cannot pass on cgroup v2): %d of %d pass, %d of %d TAP points ok\n",
			v1.passed, v1.programs, v1.ok, v1.points)
	}
	return b.String()
}

// runtimeWrapper writes the RUNTIME the programs run: this test binary as
// confine-runtime (envAsRuntime, set in the programs' environment), with
// the test's own --root. The programs call the runtime without --root and
// need a single executable path.
func runtimeWrapper(t *testing.T, root string) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "confine-runtime")
	script := fmt.Sprintf("#!/bin/sh\nexec %s --root %s \"$@\"\n", shq(exe), shq(root))
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runtimeCgroups lists the default cgroups of containers without a
// linux.cgroupsPath (confine-runtime/ID below the v2 root).
func runtimeCgroups() []string {
	ents, _ := os.ReadDir(filepath.Join(testutil.UnifiedMount(), "confine-runtime"))
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
