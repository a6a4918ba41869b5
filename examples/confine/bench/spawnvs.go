package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/confinelab/confine/internal/spawnbench"
)

// The issue-13 comparisons with bwrap: the same sandbox (five or more new
// namespaces, read-only busybox root with /proc, /dev and a tmpfs on /tmp,
// /bin/true), confine with its default seccomp filter, device filter and
// cgroup on top.

func confineArgs(confine, root string, cmd ...string) []string {
	return append([]string{confine, "run", "--rootfs", root, "--read-only", "--tmpfs", "/tmp", "--"}, cmd...)
}

// bwrapArgs is the bwrap side of every comparison.
var bwrapArgs = spawnbench.BwrapArgs

func runArgs(args []string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", args[0], err, out)
	}
	return nil
}

// spawnVsRows times confine and bwrap in turn (A B A B ...), so both see
// the same machine, and reports each median and the median of the
// per-pair ratios; then the throughput of N parallel loops of each, and
// the memory of the processes that supervise 100 running sandboxes.
func spawnVsRows(confine, root string, n int) ([]row, error) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return []row{{"spawn: `confine run` / bwrap (paired)", "n/a", "bwrap not installed"}}, nil
	}
	a, b := confineArgs(confine, root, "/bin/true"), bwrapArgs(root, "/bin/true")
	for _, args := range [][]string{a, b} { // warm caches; fail early
		if err := runArgs(args); err != nil {
			return nil, err
		}
	}
	ta, tb, ratio, err := paired(n, func() error { return runArgs(a) }, func() error { return runArgs(b) })
	if err != nil {
		return nil, err
	}
	rows := []row{{"spawn: `confine run` / `bwrap --unshare-all` (paired)",
		fmt.Sprintf("%.2fx", med(ratio)),
		fmt.Sprintf("medians %.1f ms / %.1f ms of %d alternating runs; busybox root read-only, /proc, /dev, tmpfs /tmp; confine adds its seccomp filter, device filter and cgroup", med(ta), med(tb), n)}}
	for _, workers := range []int{1, 2, 8} {
		ra, err := throughput(a, workers, n)
		if err != nil {
			return nil, err
		}
		rb, err := throughput(b, workers, n)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{fmt.Sprintf("spawn throughput, %d parallel loops: confine / bwrap", workers),
			fmt.Sprintf("%.1f / %.1f per s", ra, rb), fmt.Sprintf("%d starts of `true` each, %.2fx bwrap's rate", max(2*n, 4*workers), ra/rb)})
	}
	mem, err := memoryRows(confine, root)
	if err != nil {
		return nil, err
	}
	return append(rows, mem...), nil
}

// paired runs a then b, n times, and returns the milliseconds of each
// run and the per-pair ratios a/b.
func paired(n int, a, b func() error) (ta, tb, ratio []float64, err error) {
	for range n {
		t0 := time.Now()
		if err := a(); err != nil {
			return nil, nil, nil, err
		}
		t1 := time.Now()
		if err := b(); err != nil {
			return nil, nil, nil, err
		}
		t2 := time.Now()
		ta = append(ta, float64(t1.Sub(t0))/1e6)
		tb = append(tb, float64(t2.Sub(t1))/1e6)
		ratio = append(ratio, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
	}
	return ta, tb, ratio, nil
}

func med(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// throughput runs max(2n, 4*workers) starts of args on workers parallel
// loops and returns starts per second.
func throughput(args []string, workers, n int) (float64, error) {
	total := max(2*n, 4*workers)
	jobs := make(chan struct{}, total)
	for range total {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := runArgs(args); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// memSandboxes is how many sleeping sandboxes the memory rows start.
const memSandboxes = 100

// memoryRows starts memSandboxes sandboxes running sleep with each
// launcher and sums, per sandbox, RSS and PSS of every process but the
// sleep itself: what supervising a running sandbox costs.
func memoryRows(confine, root string) ([]row, error) {
	var rows []row
	for _, l := range []struct {
		name string
		args []string
		stop []syscall.Signal
	}{
		// confine forwards the first SIGTERM to the command (PID 1
		// ignores it) and kills the sandbox on the second.
		{"confine", confineArgs(confine, root, "/bin/sleep", "600"), []syscall.Signal{syscall.SIGTERM, syscall.SIGTERM}},
		{"bwrap", bwrapArgs(root, "/bin/sleep", "600"), []syscall.Signal{syscall.SIGKILL}},
	} {
		rss, pss, procs, err := supervisorMemory(l.args, l.stop)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{fmt.Sprintf("supervisor memory, %d sandboxes running sleep: %s", memSandboxes, l.name),
			fmt.Sprintf("%.2f MiB RSS, %.2f MiB PSS", rss/1024, pss/1024),
			fmt.Sprintf("per sandbox; %.1f supervising processes each, the command itself not counted", procs)})
	}
	return rows, nil
}

func supervisorMemory(args []string, stop []syscall.Signal) (rss, pss, procs float64, err error) {
	var cmds []*exec.Cmd
	defer func() {
		for _, sig := range stop {
			for _, c := range cmds {
				_ = c.Process.Signal(sig)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}()
	for range memSandboxes {
		c := exec.Command(args[0], args[1:]...)
		if err := c.Start(); err != nil {
			return 0, 0, 0, err
		}
		cmds = append(cmds, c)
	}
	// Every sandbox sleeping, and confine's trim (after 200 ms) done.
	time.Sleep(3 * time.Second)
	var total, totalPss, n float64
	for _, c := range cmds {
		for _, pid := range family(c.Process.Pid) {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
				continue
			}
			total += kB(pid, "status", "VmRSS:")
			totalPss += kB(pid, "smaps_rollup", "Pss:")
			n++
		}
	}
	return total / memSandboxes, totalPss / memSandboxes, n / memSandboxes, nil
}

// family returns pid and its descendants.
func family(pid int) []int {
	out := []int{pid}
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, t := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, family(child)...)
			}
		}
	}
	return out
}

// kB reads a "Key: N kB" line of /proc/PID/file.
func kB(pid int, file, key string) float64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + file)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}
