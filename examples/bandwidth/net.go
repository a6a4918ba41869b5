package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
)

type server struct {
	ns       netns.NsHandle
	ln       net.Listener
	received atomic.Uint64
}

// startServer creates the server's network namespace on a locked thread
// that is never returned to the scheduler, adds the veth pair there and
// listens.
func startServer() (*server, error) {
	s := &server{}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with this goroutine
		var err error
		if s.ns, err = netns.New(); err != nil {
			errc <- err
			return
		}
		errc <- s.setup()
	}()
	if err := <-errc; err != nil {
		s.close()
		return nil, err
	}
	go s.serve()
	return s, nil
}

func (s *server) setup() error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "bwd0"}, PeerName: "bwd1"}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("adding veth: %w", err)
	}
	if err := up(nil, "bwd0", srvIP); err != nil {
		return err
	}
	var err error
	s.ln, err = net.Listen("tcp4", srvIP+":"+port)
	return err
}

// up sets addr (if any) on the link and brings it and lo up, through h
// (nil: the calling thread's namespace).
func up(h *netlink.Handle, name, addr string) error {
	if h == nil {
		h = &netlink.Handle{}
	}
	for _, n := range []string{"lo", name} {
		l, err := h.LinkByName(n)
		if err != nil {
			return fmt.Errorf("finding %s: %w", n, err)
		}
		if n == name {
			a, _ := netlink.ParseAddr(addr + "/24")
			if err := h.AddrAdd(l, a); err != nil {
				return fmt.Errorf("adding %s: %w", addr, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("bringing up %s: %w", n, err)
		}
	}
	return nil
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
	if s.ns.IsOpen() {
		s.ns.Close() // the namespace (and veth) go with the last reference
	}
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

func wire(s *server, pid int) error {
	sh, err := netlink.NewHandleAt(s.ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer sh.Close()
	peer, err := sh.LinkByName("bwd1")
	if err != nil {
		return err
	}
	if err := sh.LinkSetNsPid(peer, pid); err != nil {
		return fmt.Errorf("moving veth peer: %w", err)
	}
	cns, err := netns.GetFromPid(pid)
	if err != nil {
		return err
	}
	defer cns.Close()
	ch, err := netlink.NewHandleAt(cns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer ch.Close()
	return up(ch, "bwd1", cliIP)
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
