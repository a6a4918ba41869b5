package devfilter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.RegisterHelper("devaccess", helperDevAccess)
	testutil.RunHelperIfAsked()
	os.Exit(m.Run())
}

// helperDevAccess takes OP:PATH[:TYPE:MAJ:MIN] arguments (OP r, w, rw or
// m) and prints, per argument, whether the device cgroup refused it
// ("EPERM") or not ("ok": success or any other errno, such as ENXIO from a
// driver that does not exist, which the kernel returns after the cgroup
// check passed).
func helperDevAccess(args []string) int {
	for _, a := range args {
		f := strings.Split(a, ":")
		var err error
		switch f[0] {
		case "r", "w", "rw":
			flag := map[string]int{"r": unix.O_RDONLY, "w": unix.O_WRONLY, "rw": unix.O_RDWR}[f[0]]
			var fd int
			fd, err = unix.Open(f[1], flag|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
			if err == nil {
				unix.Close(fd)
			}
		case "m":
			var maj, min uint32
			fmt.Sscan(f[3], &maj)
			fmt.Sscan(f[4], &min)
			mode := uint32(unix.S_IFCHR)
			if f[2] == "b" {
				mode = unix.S_IFBLK
			}
			err = unix.Mknod(f[1], mode|0o600, int(unix.Mkdev(maj, min)))
		}
		if errors.Is(err, unix.EPERM) {
			fmt.Println("EPERM")
		} else {
			fmt.Println("ok")
		}
	}
	return 0
}

type node struct {
	typ      Type
	maj, min uint32
}

// runAccess runs the helper inside cg and returns its verdicts.
func runAccess(t *testing.T, cg string, args []string) []string {
	t.Helper()
	fd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := testutil.HelperCommand(t, "devaccess", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(args) {
		t.Fatalf("helper printed %q for %d args", out, len(args))
	}
	return lines
}

// TestKernelMatchesEvaluate attaches programs for fixed and random rule
// sets and checks that the kernel's decisions for real open(2) and
// mknod(2) calls equal Evaluate's.
func TestKernelMatchesEvaluate(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.TempCgroup(t)
	dir := t.TempDir()
	nodes := []node{{TypeChar, 1, 3}, {TypeChar, 1, 5}, {TypeChar, 240, 7}, {TypeBlock, 240, 7}, {TypeBlock, 241, 3}}
	for i, n := range nodes {
		mode := uint32(unix.S_IFCHR)
		if n.typ == TypeBlock {
			mode = unix.S_IFBLK
		}
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := unix.Mknod(p, mode|0o666, int(unix.Mkdev(n.maj, n.min))); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sets := [][]Rule{
		{null, {Type: TypeChar, Major: 1, Minor: 3, Access: AccWrite}},
		{allowAll, {Type: TypeBlock, Major: Wildcard, Minor: Wildcard, Access: AccRead}},
		{{Type: TypeChar, Major: Wildcard, Minor: Wildcard, Access: AccMknod, Allow: true}, null},
		{},        // deny everything
		{denyAll}, // deny-only: no allow block in the program
	}
	for range 20 {
		sets = append(sets, randomRules(rng, nodes))
	}
	// The largest trees: distinct devices up to the leaf bound, the nodes'
	// own rules last.
	big := dockerRules()
	for len(big) < maxTreeLeaves/2-12 {
		big = append(big, Rule{Type: TypeChar, Major: int64(300 + rng.IntN(50)), Minor: int64(rng.IntN(4)),
			Access: Access(1 + rng.IntN(7)), Allow: rng.IntN(2) == 0})
	}
	sets = append(sets, append(big, randomRules(rng, nodes)...))
	defer Detach(cg, "")
	for i := range 2 * len(sets) {
		// Each set as a tree (what Instructions makes of it) and linear.
		si, rules, insns := i/2, sets[i/2], linearInstructions(sets[i/2])
		if i%2 == 0 {
			var ok bool
			if insns, ok = treeInstructions(rules); !ok {
				t.Fatalf("rule set %d (%d rules): no tree", si, len(rules))
			}
		}
		prog, err := load(insns)
		if err != nil {
			t.Fatalf("rule set %d (%d instructions): %v", si, len(insns), err)
		}
		err = Attach(cg, prog, "")
		prog.Close()
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		var want []bool
		for ni, n := range nodes {
			p := filepath.Join(dir, fmt.Sprint(ni))
			for _, op := range []struct {
				s string
				a Access
			}{{"r", AccRead}, {"w", AccWrite}, {"rw", AccRead | AccWrite}} {
				args = append(args, op.s+":"+p)
				want = append(want, Evaluate(rules, n.typ, n.maj, n.min, op.a))
			}
			tc := map[Type]string{TypeChar: "c", TypeBlock: "b"}[n.typ]
			args = append(args, fmt.Sprintf("m:%s/new%d-%d:%s:%d:%d", dir, i, ni, tc, n.maj, n.min))
			want = append(want, Evaluate(rules, n.typ, n.maj, n.min, AccMknod))
		}
		got := runAccess(t, cg, args)
		for j := range args {
			if (got[j] == "ok") != want[j] {
				t.Errorf("rule set %d %+v (tree %v): %s: kernel says %s, Evaluate says allowed=%v", si, rules, i%2 == 0, args[j], got[j], want[j])
			}
		}
	}
}

func randomRules(rng *rand.Rand, nodes []node) []Rule {
	rules := make([]Rule, 1+rng.IntN(6))
	for i := range rules {
		n := nodes[rng.IntN(len(nodes))]
		r := Rule{Type: n.typ, Major: int64(n.maj), Minor: int64(n.min),
			Access: Access(1 + rng.IntN(7)), Allow: rng.IntN(3) > 0}
		switch rng.IntN(4) {
		case 0:
			r.Type = TypeAll
		case 1:
			r.Minor = Wildcard
		case 2:
			r.Major = Wildcard
		}
		rules[i] = r
	}
	return rules
}

// TestReplaceNotPileUp updates the program 100 times and checks that the
// cgroup holds exactly one device program, then none after Detach.
func TestReplaceNotPileUp(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeaks(t)
	cg := testutil.TempCgroup(t)
	for i := range 100 {
		prog, err := Load([]Rule{{Type: TypeChar, Major: 1, Minor: int64(i % 10), Access: AccRead, Allow: true}})
		if err != nil {
			t.Fatal(err)
		}
		err = Attach(cg, prog, "")
		prog.Close()
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	ids, err := Attached(cg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Fatalf("%d device programs attached after 100 updates, want 1", len(ids))
	}
	if err := Detach(cg, ""); err != nil {
		t.Fatal(err)
	}
	if ids, _ := Attached(cg); len(ids) != 0 {
		t.Fatalf("%d device programs attached after Detach", len(ids))
	}
}

// BenchmarkLoad loads the program for Docker's default rules as
// Instructions makes it (a tree) and as the linear program: the
// verifier's work is most of a load, and confine run pays one load per
// run when no other cgroup shares the program.
func BenchmarkLoad(b *testing.B) {
	testutil.RequireRoot(b)
	tree, _ := treeInstructions(dockerRules())
	for _, bc := range []struct {
		name  string
		insns asm.Instructions
	}{{"tree", tree}, {"linear", linearInstructions(dockerRules())}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				p, err := load(bc.insns)
				if err != nil {
					b.Fatal(err)
				}
				p.Close()
			}
		})
	}
}
