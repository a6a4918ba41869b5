package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// demoScene is one short `confine run` the demo shows, with what to say
// about its result.
type demoScene struct {
	title string
	args  []string
	// explain turns the exit status and the --stats JSON (nil without
	// --stats) into the line printed under the output.
	explain func(code int, stats map[string]float64) string
}

// demoCommand is the hidden `confine demo`: `make demo` runs it inside the
// test bed's VM (pure cgroup v2, every controller) to show each limit
// acting on a real workload. It runs this same binary's `run` for every
// scene, exactly as a user would type it.
func demoCommand(_ []string, stdout, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "confine demo: %v\n", err)
		return exitConfine
	}
	failed := 0
	for _, s := range demoScenes() {
		fmt.Fprintf(stdout, "\n=== %s\n$ confine %s\n", s.title, shellQuote(s.args))
		code, stats := runScene(self, s.args, stdout)
		fmt.Fprintf(stdout, "-> exit %d: %s\n", code, s.explain(code, stats))
		if strings.HasPrefix(s.explain(code, stats), "UNEXPECTED") {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "\n%d scene(s) did not behave as expected\n", failed)
		return 1
	}
	fmt.Fprintln(stdout, "\nevery limit held")
	fmt.Fprintln(stdout, "On a pure cgroup v2 host, run the same commands directly: sudo ./confine run --memory 32m -- ...")
	return 0
}

func demoScenes() []demoScene {
	return []demoScene{
		{"namespaces: PID 1, own hostname, only lo",
			[]string{"run", "--hostname", "demo", "--read-only", "--", "sh", "-c",
				`echo "PID $$ on $(hostname), interfaces: $(ls /sys/class/net)"; touch /x`},
			func(code int, _ map[string]float64) string {
				return expect(code == 1, "the shell is PID 1 in its own namespaces; the read-only root refused the write")
			}},
		{"memory: a 128 MiB allocation under --memory 32m",
			[]string{"run", "--memory", "32m", "--stats", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"},
			func(code int, st map[string]float64) string {
				return expect(code == exitOOM, fmt.Sprintf("OOM-killed at a peak of %.1f MiB", st["memory_peak_bytes"]/(1<<20)))
			}},
		{"cpu: a busy loop under --cpus 0.5 for 3 seconds",
			[]string{"run", "--init", "--cpus", "0.5", "--stats", "--", "timeout", "3", "sh", "-c", "while :; do :; done"},
			func(code int, st map[string]float64) string {
				cores := st["cpu_usage_usec"] / (st["wall_ms"] * 1000)
				return expect(cores > 0.3 && cores < 0.65, fmt.Sprintf("held to %.2f cores, throttled for %.1f s",
					cores, st["cpu_throttled_usec"]/1e6))
			}},
		{"pids: 12 background sleeps under --pids-limit 6",
			[]string{"run", "--pids-limit", "6", "--stats", "--", "sh", "-c", "for i in $(seq 12); do sleep 1 & done 2>&1 | head -1; wait"},
			func(code int, st map[string]float64) string {
				return expect(st["pids_peak"] <= 6, fmt.Sprintf("at most %.0f tasks ever existed", st["pids_peak"]))
			}},
		{"network: a 4 MiB HTTP download (loopback inside the sandbox) under --egress-rate 8mbit",
			[]string{"run", "--egress-rate", "8mbit", "--tmpfs", "/tmp", "--stats", "--", "sh", "-c",
				"mkdir /tmp/w && dd if=/dev/zero of=/tmp/w/f bs=64k count=64 2>/dev/null && httpd -p 127.0.0.1:8080 -h /tmp/w && " +
					"read a x < /proc/uptime; wget -q -O /dev/null http://127.0.0.1:8080/f; read b x < /proc/uptime; " +
					"echo \"transfer_s=$(echo \"$a $b\" | awk '{print $2-$1}')\""},
			func(code int, st map[string]float64) string {
				mbit := 4 * 1.048576 * 8 / st["transfer_s"]
				return expect(code == 0 && mbit < 8*1.1 && mbit > 8*0.5, fmt.Sprintf("4.2 MB in %.1f s: %.1f mbit/s for a limit of 8 (%.0f bytes sent, %.0f packets delayed, %.0f dropped)",
					st["transfer_s"], mbit, st["net_tx_bytes"], st["net_delayed_packets"], st["net_dropped_packets"]))
			}},
	}
}

func expect(ok bool, msg string) string {
	if ok {
		return msg
	}
	return "UNEXPECTED: " + msg
}

// runScene runs one scene, shows its output, and returns its exit status
// and its --stats numbers (null values are left out).
func runScene(self string, args []string, stdout io.Writer) (int, map[string]float64) {
	var errb, outb bytes.Buffer
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = io.MultiWriter(stdout, &outb), &errb
	start := time.Now()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		fmt.Fprintf(stdout, "%v\n", err)
		return exitConfine, nil
	}
	stats := map[string]float64{"wall_ms": float64(time.Since(start).Milliseconds())}
	for _, line := range strings.Split(outb.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				stats[k] = f
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		var m map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &m) == nil {
			for k, v := range m {
				if f, ok := v.(float64); ok {
					stats[k] = f
				}
			}
			fmt.Fprintf(stdout, "stats: %s\n", line)
			continue
		}
		if line != "" {
			fmt.Fprintln(stdout, line)
		}
	}
	return code, stats
}

func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$;&|<>()*?!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
