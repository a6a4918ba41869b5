// Command bench is confine's end-to-end benchmark: it measures, in one run
// so the ratios hold, the spawn latency of `confine run` (five namespaces,
// a read-only busybox root, the default seccomp filter, its own cgroup)
// next to `unshare`, `bwrap` and `runc` when they are installed (and,
// alternating with bwrap: the paired ratio, the throughput of 1, 2 and 8
// parallel loops, and the memory supervising 100 running sandboxes
// takes), the library path from a warm namespace.Pool against bwrap, the
// cost of cgroup create/apply/delete and Stats, the seccomp compiler's
// time and the filter's executed instructions, and the bandwidth
// limiter's accuracy next to `tc tbf` at the same rate; it prints one
// markdown table of medians.
//
// Run it as root (`make bench-suite` builds confine statically, installs
// bubblewrap and runc when missing, and saves the table to
// examples/confine/bench/RESULTS.md):
//
//	CGO_ENABLED=0 go build -o /tmp/confine ./examples/confine
//	go run ./examples/confine/bench -confine /tmp/confine -n 30 -o RESULTS.md
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/confinelab/confine/namespace"
)

func main() {
	namespace.Init() // the pooled spawn row starts sandboxes in-process
	confine := flag.String("confine", "", "path of a statically built confine binary (required)")
	n := flag.Int("n", 30, "repetitions per measurement (the median is shown)")
	out := flag.String("o", "", "also write the table to this file")
	only := flag.String("only", "", "measure one group only: spawn, cgroup, seccomp or bandwidth")
	flag.Parse()
	if *confine == "" || *n < 3 {
		fmt.Fprintln(os.Stderr, "bench: -confine PATH is required and -n must be >= 3")
		os.Exit(2)
	}
	var b strings.Builder
	if err := suite(&b, *confine, *n, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Print(b.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// row is one line of the table.
type row struct {
	what, value, note string
}

func suite(w io.Writer, confine string, n int, only string) error {
	root, cleanup, err := busyboxRoot()
	if err != nil {
		return err
	}
	defer cleanup()
	groups := []struct {
		name string
		rows func() ([]row, error)
	}{
		{"spawn", func() ([]row, error) { return spawnRows(confine, root, n) }},
		{"spawn", func() ([]row, error) { return spawnVsRows(confine, root, n) }},
		{"spawn", func() ([]row, error) { r, err := pooledVsRow(root, n); return []row{r}, err }},
		{"cgroup", func() ([]row, error) { return cgroupRows(n) }},
		{"seccomp", func() ([]row, error) { return seccompRows(n) }},
		{"bandwidth", func() ([]row, error) { return bandwidthRows(confine, n) }},
	}
	var rows []row
	for _, g := range groups {
		if only != "" && g.name != only {
			continue
		}
		r, err := g.rows()
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	header(w, n)
	fmt.Fprintln(w, "| measurement | median | notes |")
	fmt.Fprintln(w, "|---|---:|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.what, r.value, r.note)
	}
	return nil
}

func header(w io.Writer, n int) {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	fmt.Fprintf(w, "# confine benchmark results\n\n")
	fmt.Fprintf(w, "Measured %s on %s: %s, %d CPUs, Linux %s, %s. Medians of %d runs each, all in one run of the\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, model, runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version(), n)
	fmt.Fprintf(w, "benchmark program (`make bench-suite`), on a shared and noisy machine: compare ratios, not absolute values.\n\n")
}

// median runs f n times and returns the median duration.
func median(n int, f func() error) (time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2], nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f µs", float64(d)/1e3)
}
