// Command bandwidth is a live demo of confine's per-cgroup bandwidth limit
// (cgroup.Network, eBPF cgroup_skb programs). It creates a cgroup with an
// egress limit, two network namespaces joined by a veth pair, a TCP sink in
// one and a sender born inside the cgroup in the other, and prints the
// achieved goodput each second with a text bar, next to the ideal goodput
// for the limit (rate x MSS / Ethernet packet size, what tc also achieves).
//
// Run it as root (cgroup v2 and a 5.12+ kernel):
//
//	go run ./examples/bandwidth -rate 10mbit -seconds 10
//
// It works in a private mount namespace, where it mounts a BPF filesystem
// at /sys/fs/bpf if there is none, so the pins vanish with it; the cgroup
// and namespaces are removed at the end.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
)

const (
	roleEnv = "BWDEMO_ROLE"
	srvIP   = "10.198.0.1"
	cliIP   = "10.198.0.2"
	port    = "5301"
)

func main() { os.Exit(dispatch(os.Args[1:], os.Stdout)) }

// dispatch runs the role this process was started for: the top level
// re-executes itself in a private mount namespace ("demo"), which starts
// the sender ("client").
func dispatch(args []string, out io.Writer) int {
	switch os.Getenv(roleEnv) {
	case "client":
		return client(args)
	case "demo":
		return demo(args, out)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bandwidth:", err)
		return 1
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), roleEnv+"=demo")
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	cmd.SysProcAttr = &unix.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "bandwidth:", err)
		return 1
	}
	return 0
}

func demo(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("bandwidth", flag.ContinueOnError)
	rateFlag := fs.String("rate", "10mbit", "egress limit (10mbit, 1gbit, 500kbit, 10M)")
	secs := fs.Int("seconds", 10, "how long to send")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rate, err := cgroup.ParseRate(*rateFlag)
	if err == nil {
		err = run(rate, *secs, out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bandwidth:", err)
		return 1
	}
	return 0
}

func run(rate uint64, secs int, out io.Writer) error {
	// The limiter pins its programs on a BPF filesystem.
	if _, err := cgroup.MountBPFFS(); err != nil {
		return err
	}
	cg, err := cgroup.New(fmt.Sprintf("confine-bwdemo-%d", os.Getpid()),
		cgroup.Resources{Network: &cgroup.Network{EgressRate: rate}})
	if err != nil {
		return err
	}
	defer cg.Delete()
	srv, err := startServer()
	if err != nil {
		return err
	}
	defer srv.close()
	cmd, err := startClient(cg, srv, secs)
	if err != nil {
		return err
	}
	ideal := float64(rate) * 1448 / 1514
	fmt.Fprintf(out, "limit %s: ideal goodput %.2f Mbit/s\n", cgroup.FormatRate(rate), ideal/1e6)
	last, t0 := srv.received.Load(), time.Now()
	for i := 1; i <= secs; i++ {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * time.Second)))
		n := srv.received.Load()
		bps := float64(n-last) * 8
		last = n
		fmt.Fprintf(out, "%3ds %8.2f Mbit/s %5.1f%% |%s|\n", i, bps/1e6, 100*bps/ideal, bar(bps/ideal))
	}
	return cmd.Wait()
}

// bar draws ratio (1 = ideal) on a 40-column scale that ends at 125%.
func bar(ratio float64) string {
	const width = 40
	n := min(max(int(ratio/1.25*width+0.5), 0), width)
	return strings.Repeat("#", n) + strings.Repeat(" ", width-n)
}
