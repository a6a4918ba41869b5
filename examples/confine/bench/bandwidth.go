package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// bandwidthRows compares the goodput of an 8 MiB HTTP download (busybox
// httpd and wget on a private loopback) held by `confine run
// --egress-rate` with the same download under `tc tbf` at the same rate.
func bandwidthRows(confine string, n int) ([]row, error) {
	const rate = 32 // mbit/s
	for _, c := range []string{"busybox", "unshare", "tc", "ip"} {
		if _, err := exec.LookPath(c); err != nil {
			return []row{{"bandwidth: confine vs tc tbf", "n/a", c + " not installed"}}, nil
		}
	}
	dir, err := os.MkdirTemp("", "confine-bench-bw-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 8<<20), 0o644); err != nil {
		return nil, err
	}
	script := "busybox httpd -p 127.0.0.1:8080 -h " + dir + " && read a x < /proc/uptime; " +
		"busybox wget -q -O /dev/null http://127.0.0.1:8080/f && read b x < /proc/uptime && " +
		"echo $a $b | busybox awk '{print 8*1.048576*8/($2-$1)}'"
	// The RTT script pings the sandbox's own lo while the download runs.
	rtt := "busybox httpd -p 127.0.0.1:8080 -h " + dir + " && (busybox wget -q -O /dev/null http://127.0.0.1:8080/f &) && " +
		"sleep 0.5 && busybox ping -q -c 5 -i 0.2 127.0.0.1 | busybox sed -n 's|.*= [0-9.]*/\\([0-9.]*\\)/.*|\\1|p'"
	confineCmd := func(s string) []string {
		// The host's /tmp is private in the sandbox: bind the file's
		// directory in.
		return []string{confine, "run", "--egress-rate", fmt.Sprintf("%dmbit", rate), "-v", dir + ":" + dir + ":ro", "--", "sh", "-c", s}
	}
	tbfCmd := func(s string) []string {
		return []string{"unshare", "-n", "--fork", "--pid", "--mount-proc", "sh", "-c",
			fmt.Sprintf("ip link set lo up && tc qdisc add dev lo root tbf rate %dmbit burst 128kb latency 100ms && %s", rate, s)}
	}
	reps := max(3, n/10)
	var rows []row
	for _, c := range []struct {
		name string
		args []string
		unit string
		note string
	}{
		{"bandwidth: `confine run --egress-rate 32mbit`", confineCmd(script), "mbit",
			"8 MiB HTTP download on the sandbox's lo, goodput; EDT with fq, else the virtual-queue mode (here: no sch_fq)"},
		{"bandwidth: `tc qdisc add dev lo root tbf rate 32mbit`", tbfCmd(script), "mbit",
			"same download in a fresh netns, tbf burst 128kb (lo's 64 KiB packets need it)"},
		{"RTT under load: confine 32mbit", confineCmd(rtt), "ms", "ping's average on lo during the download"},
		{"RTT under load: tc tbf 32mbit", tbfCmd(rtt), "ms", "same, tbf latency 100ms"},
	} {
		med, err := medianOutput(c.args, reps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		value := fmt.Sprintf("%.3f ms", med)
		if c.unit == "mbit" {
			value = fmt.Sprintf("%.1f mbit/s (%.0f%%)", med, med/rate*100)
		}
		rows = append(rows, row{c.name, value, fmt.Sprintf("%s; median of %d", c.note, reps)})
	}
	return rows, nil
}

// medianOutput runs args reps times; each run prints one number.
func medianOutput(args []string, reps int) (float64, error) {
	var got []float64
	for i := 0; i < reps; i++ {
		out, err := exec.Command(args[0], args[1:]...).Output()
		v, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil || perr != nil {
			return 0, fmt.Errorf("%v %v: %q", err, perr, out)
		}
		got = append(got, v)
	}
	sort.Float64s(got)
	return got[len(got)/2], nil
}
