package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

type server struct {
	ns       *namespace.Handle
	ln       net.Listener
	received atomic.Uint64
}

// startServer makes the server's network namespace (namespace.New: the
// caller's threads never move) and listens in it.
func startServer() (*server, error) {
	h, err := namespace.New(namespace.NET)
	if err != nil {
		return nil, err
	}
	s := &server{ns: h}
	err = namespace.Do(func() (err error) {
		s.ln, err = net.Listen("tcp4", ":"+port)
		return err
	}, h)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("listening in the server's namespace: %w", err)
	}
	go s.serve()
	return s, nil
}

func (s *server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 256<<10)
			for {
				n, err := c.Read(buf)
				s.received.Add(uint64(n))
				if err != nil {
					return
				}
			}
		}()
	}
}

func (s *server) close() {
	if s.ln != nil {
		s.ln.Close()
	}
	s.ns.Close() // the namespace (and the veth) go with the last reference
}

// startClient starts the sender in a new network namespace, born in cg,
// moves the veth peer into it and configures it.
func startClient(cg *cgroup.Cgroup, s *server, secs int) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, srvIP+":"+port, fmt.Sprint(secs))
	cmd.Env = append(os.Environ(), roleEnv+"=client")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWNET,
		UseCgroupFD: true, CgroupFD: cg.FD()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting sender: %w", err)
	}
	if err := wire(s, cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return cmd, nil
}

// wire joins the server's namespace and the sender's (that of pid) with
// a veth pair, addresses set and both ends up.
func wire(s *server, pid int) error {
	cli, err := netns.OpenPid(pid)
	if err != nil {
		return err
	}
	defer cli.Close()
	return netns.CreateVeth(netns.Veth{
		A: netns.VethEnd{Netns: s.ns, Name: "bwd0", Addrs: []netip.Prefix{netip.MustParsePrefix(srvIP + "/24")}},
		B: netns.VethEnd{Netns: cli, Name: "bwd1", Addrs: []netip.Prefix{netip.MustParsePrefix(cliIP + "/24")}},
	})
}

// client (in its own netns and the limited cgroup): connect, retrying
// while the parent wires the veth, and send for the given seconds.
func client(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "client: want ADDR SECONDS")
		return 2
	}
	var secs int
	fmt.Sscan(args[1], &secs)
	var c net.Conn
	var err error
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if c, err = net.DialTimeout("tcp4", args[0], time.Second); err == nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	defer c.Close()
	deadline := time.Now().Add(time.Duration(secs)*time.Second + 200*time.Millisecond)
	_ = c.SetWriteDeadline(deadline)
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "client:", err)
			return 1
		}
	}
}
