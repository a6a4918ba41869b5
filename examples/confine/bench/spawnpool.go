package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/spawnbench"
)

// pooledVsRow times the library path from a warm namespace.Pool against
// bwrap, in turn (A B A B ...): the sandbox of the `confine run` row
// (five new namespaces and a CGROUP one, the read-only busybox root with
// a tmpfs /tmp, Docker's default seccomp filter and capabilities, a
// cgroup of its own with Docker's device allowlist), started and waited
// for in this process. The pool (two inits) forks each init into a fresh
// cgroup and builds its root ahead of need, on the same CPUs as what is
// measured; a start completes a waiting init with its command, runs it
// and deletes its cgroup. This process must have called namespace.Init.
func pooledVsRow(root string, n int) (row, error) {
	what := "spawn, library from a warm `namespace.Pool` / `bwrap --unshare-all` (paired)"
	if _, err := exec.LookPath("bwrap"); err != nil {
		return row{what, "n/a", "bwrap not installed"}, nil
	}
	h, err := cgroup.Detect()
	if err != nil {
		return row{}, err
	}
	parent := filepath.Join(h.Root, fmt.Sprintf("confine-bench-pool-%d", os.Getpid()))
	defer os.Remove(parent)
	prog, err := spawnbench.Filter()
	if err != nil {
		return row{}, err
	}
	r := spawnbench.Root(root)
	p, err := spawnbench.NewPooled(parent, &r, prog)
	if err != nil {
		return row{}, err
	}
	defer p.Close()
	pooled := p.Run
	bw := bwrapArgs(root, "/bin/true")
	for _, f := range []func() error{pooled, func() error { return runArgs(bw) }} { // warm caches; fail early
		if err := f(); err != nil {
			return row{}, err
		}
	}
	// The refill of the init just taken overlaps bwrap's run.
	ta, tb, ratio, err := paired(n, pooled, func() error { return runArgs(bw) })
	if err != nil {
		return row{}, err
	}
	return row{what, fmt.Sprintf("%.2fx", med(ratio)),
		fmt.Sprintf("medians %.1f ms / %.1f ms of %d alternating runs; the same sandbox as `confine run`'s, in-process; the pool's refill (fork, Go start, root built ahead) overlaps bwrap's turn", med(ta), med(tb), n)}, nil
}
