// Command cgtop watches one cgroup v2 tree, like systemd-cgtop for a
// single subtree: every interval it prints each cgroup's CPU use (from
// cpu.stat deltas), memory and task counts where those controllers are
// enabled ("-" where they are not: unknown, not zero), and in between it
// prints the events the kernel reports for them through one
// cgroup.Watcher (OOM kills, a group becoming populated or empty, frozen
// or thawed, removed).
//
// Run it as root on a cgroup v2 (or hybrid) host:
//
//	go run ./examples/cgtop                        # the tree confine runs use
//	go run ./examples/cgtop -root / -depth 1 -n 5  # the top of the hierarchy, 5 times
//
// In another terminal, `confine run --memory 32m ...` runs show up and
// their OOM kills are reported as they happen.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/confinelab/confine/cgroup"
)

func main() {
	root := flag.String("root", "confine", "tree to watch: relative to the cgroup v2 root, or absolute")
	depth := flag.Int("depth", 3, "how many levels below the root to show")
	interval := flag.Duration("interval", time.Second, "refresh interval")
	n := flag.Int("n", 0, "stop after this many refreshes (0: until SIGINT)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := watch(ctx, os.Stdout, *root, *depth, *interval, *n); err != nil {
		fmt.Fprintln(os.Stderr, "cgtop:", err)
		os.Exit(1)
	}
}

// tracked is one cgroup being shown and its previous CPU reading.
type tracked struct {
	cg       *cgroup.Cgroup
	lastUsec uint64
	lastAt   time.Time
}

// watch refreshes the table every interval and prints events as they come.
func watch(ctx context.Context, out io.Writer, root string, depth int, interval time.Duration, n int) error {
	h, err := cgroup.Detect()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(root) || !strings.HasPrefix(root, h.Root) {
		root = filepath.Join(h.Root, root)
	}
	w, err := cgroup.NewWatcher(64)
	if err != nil {
		return err
	}
	defer w.Close()
	groups := map[string]*tracked{}
	defer func() {
		for _, t := range groups {
			_ = t.cg.Close()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; n == 0 || i < n; i++ {
		if err := refresh(w, groups, root, depth); err != nil {
			return err
		}
		printTable(out, groups, root)
		if n != 0 && i == n-1 {
			break
		}
		if err := waitTick(ctx, out, w, groups, tick.C); err != nil {
			return nil // interrupted: a normal way to stop
		}
	}
	return nil
}

// waitTick prints events until the next tick.
func waitTick(ctx context.Context, out io.Writer, w *cgroup.Watcher, groups map[string]*tracked, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			return nil
		case ev := <-w.Events():
			printEvent(out, ev)
			if ev.Kind == cgroup.EventRemoved {
				p := ev.Cgroup.Path()
				if t, ok := groups[p]; ok {
					_ = w.Remove(t.cg)
					_ = t.cg.Close()
					delete(groups, p)
				}
			}
		}
	}
}

func printEvent(out io.Writer, ev cgroup.Event) {
	if ev.Cgroup == nil { // the watcher itself failed
		fmt.Fprintf(out, "event: watcher error: %v\n", ev.Err)
		return
	}
	switch ev.Kind {
	case cgroup.EventOOM, cgroup.EventOOMKill:
		fmt.Fprintf(out, "event: %s %s +%d (total %d)\n", ev.Cgroup.Path(), ev.Kind, ev.Delta, ev.Count)
	case cgroup.EventError:
		fmt.Fprintf(out, "event: %s error: %v\n", ev.Cgroup.Path(), ev.Err)
	default:
		fmt.Fprintf(out, "event: %s %s\n", ev.Cgroup.Path(), ev.Kind)
	}
}

// refresh opens and watches cgroups that appeared under root.
func refresh(w *cgroup.Watcher, groups map[string]*tracked, root string, depth int) error {
	base := strings.Count(root, "/")
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // removed while walking
		}
		if !d.IsDir() {
			return nil
		}
		if strings.Count(p, "/")-base > depth {
			return filepath.SkipDir
		}
		if _, ok := groups[p]; ok {
			return nil
		}
		cg, err := cgroup.Open(p)
		if err != nil {
			return nil
		}
		if err := w.Add(cg); err != nil {
			_ = cg.Close()
			return nil
		}
		groups[p] = &tracked{cg: cg}
		return nil
	})
}

// printTable prints one row per cgroup, sorted by path.
func printTable(out io.Writer, groups map[string]*tracked, root string) {
	paths := make([]string, 0, len(groups))
	for p := range groups {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tCPU%%\tMEMORY\tTASKS\t\n", time.Now().Format("15:04:05")+" "+root)
	for _, p := range paths {
		cpu, mem, tasks := sample(groups[p])
		name := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if name == "" {
			name = "."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, cpu, mem, tasks)
	}
	_ = tw.Flush()
}

// sample reads the stats whose files exist; "-" means not measurable here.
func sample(t *tracked) (cpu, mem, tasks string) {
	cpu, mem, tasks = "-", "-", "-"
	has := func(f string) bool {
		_, err := os.Stat(filepath.Join(t.cg.Path(), f))
		return err == nil
	}
	var s cgroup.Stats
	now := time.Now()
	if has("cpu.stat") && t.cg.Stats(&s, cgroup.StatCPU) == nil {
		if !t.lastAt.IsZero() {
			pct := float64(s.CPU.UsageUsec-t.lastUsec) / float64(now.Sub(t.lastAt).Microseconds()) * 100
			cpu = fmt.Sprintf("%.1f", pct)
		}
		t.lastUsec, t.lastAt = s.CPU.UsageUsec, now
	}
	if has("memory.current") && t.cg.Stats(&s, cgroup.StatMemory) == nil {
		mem = fmt.Sprintf("%.1fM", float64(s.Memory.Current)/(1<<20))
	}
	if has("pids.current") && t.cg.Stats(&s, cgroup.StatPids) == nil {
		tasks = fmt.Sprint(s.Pids.Current)
	} else if procs, err := t.cg.Processes(); err == nil {
		tasks = fmt.Sprint(len(procs))
	}
	return cpu, mem, tasks
}
