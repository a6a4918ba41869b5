package seccomp

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/confinelab/confine/internal/testutil"
	"golang.org/x/sys/unix"
)

// helperNotify loads a filter sending getpriority to a listener, passes
// the listener fd to the parent over fd 3 (SCM_RIGHTS), then calls
// getpriority four times and prints the results. The fourth answer is an
// fd the supervisor installed; the child writes to it.
func helperNotify(args []string) int {
	if code := sendNotifyListener(); code != 0 {
		return code
	}
	for i := 0; i < 4; i++ {
		r, _, e := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)
		fmt.Printf("call%d %d %d\n", i, int(r), int(e))
		if i == 3 && e == 0 {
			unix.Write(int(r), []byte("hello from the target"))
			unix.Close(int(r))
		}
	}
	return 0
}

// sendNotifyListener, run in a helper child, loads a filter sending
// getpriority to a new listener and passes the listener to the parent over
// fd 3 (SCM_RIGHTS). It returns the helper's exit code on failure, else 0.
func sendNotifyListener() int {
	p := &Profile{DefaultAction: NameActAllow, Syscalls: []Syscall{{Names: []string{"getpriority"}, Action: NameActNotify}}}
	prog, _, err := CompileProfile(p, Target{Kernel: "6.1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	l, err := Load(prog, LoadOptions{Flags: FlagTSYNC | FlagTSYNCESRCH | FlagNewListener})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(l.FD()), nil, 0); err != nil {
		fmt.Fprintln(os.Stderr, "sending listener:", err)
		return 3
	}
	l.Close()
	return 0
}

// startNotifyChild starts the named helper with a socket on its fd 3 and
// receives the listener that sendNotifyListener passes over it. It returns
// the listener, the parent's end of the socket, and a wait function that
// reaps the child and returns its stdout. Cleanup kills a child not waited
// for and closes the listener and socket.
func startNotifyChild(t *testing.T, helper string) (*Listener, int, func() string) {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	childEnd := os.NewFile(uintptr(pair[1]), "child-sock")
	t.Cleanup(func() { unix.Close(pair[0]) })
	cmd := testutil.HelperCommand(t, helper)
	cmd.ExtraFiles = []*os.File{childEnd}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	l := receiveListener(t, pair[0])
	t.Cleanup(func() { l.Close() })
	wait := func() string {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
		return out.String()
	}
	return l, pair[0], wait
}

func receiveListener(t *testing.T, sock int) *Listener {
	t.Helper()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v %v", fds, err)
	}
	l, err := NewListener(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// receiveWithin polls first so a broken child cannot hang the test.
func receiveWithin(t *testing.T, l *Listener, d time.Duration) *Notif {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(l.FD()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(d.Milliseconds()))
	if err != nil || n != 1 {
		t.Fatalf("no notification within %v: %v", d, err)
	}
	nt, err := l.Receive()
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

func TestUserNotification(t *testing.T) {
	testutil.RequireKernel(t, "5.9") // ADDFD
	testutil.CheckLeaks(t)
	l, _, wait := startNotifyChild(t, "seccomp-notify")

	// 1: fail with an errno of our choice.
	n := receiveWithin(t, l, 10*time.Second)
	if n.Nr != unix.SYS_GETPRIORITY || n.Pid == 0 || n.Arch != unix.AUDIT_ARCH_X86_64 || n.Args[0] != unix.PRIO_PROCESS {
		t.Fatalf("notification %+v", n)
	}
	if !l.IDValid(n.ID) {
		t.Fatal("pending notification reported invalid")
	}
	if err := l.Respond(Response{ID: n.ID, Errno: unix.EXDEV}); err != nil {
		t.Fatal(err)
	}
	if l.IDValid(n.ID) {
		t.Error("answered notification still valid")
	}
	if err := l.Respond(Response{ID: n.ID}); err == nil {
		t.Error("second answer to one notification accepted")
	}
	// 2: return a value.
	n = receiveWithin(t, l, 10*time.Second)
	if err := l.Respond(Response{ID: n.ID, Val: 42}); err != nil {
		t.Fatal(err)
	}
	// 3: let the kernel run it.
	n = receiveWithin(t, l, 10*time.Second)
	if err := l.Respond(Response{ID: n.ID, Flags: FlagContinue}); err != nil {
		t.Fatal(err)
	}
	// 4: install a pipe in the target and return its number.
	n = receiveWithin(t, l, 10*time.Second)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	readEnd := os.NewFile(uintptr(p[0]), "pipe")
	defer readEnd.Close()
	fd, err := l.AddFD(AddFDRequest{ID: n.ID, SrcFD: p[1], NewFDFlags: unix.O_CLOEXEC})
	unix.Close(p[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Respond(Response{ID: n.ID, Val: int64(fd)}); err != nil {
		t.Fatal(err)
	}
	msg, err := io.ReadAll(readEnd)
	if err != nil || string(msg) != "hello from the target" {
		t.Errorf("read %q %v through the added fd", msg, err)
	}
	out := wait()
	want := fmt.Sprintf("call0 -1 %d\ncall1 42 0\ncall2 ", int(unix.EXDEV))
	if !strings.HasPrefix(out, want) || !strings.Contains(out, fmt.Sprintf("call3 %d 0", fd)) {
		t.Errorf("child saw:\n%s", out)
	}
	if err := l.Close(); err != nil || l.Close() != nil || l.FD() != -1 {
		t.Error("Close not idempotent")
	}
}

func TestListenerNilAndClosed(t *testing.T) {
	var l *Listener
	if l.Close() != nil || l.FD() != -1 {
		t.Fatal("nil listener")
	}
	if _, err := NewListener(-1); err == nil {
		t.Fatal("negative fd accepted")
	}
	c := &Listener{fd: -1}
	if _, err := c.Receive(); err == nil {
		t.Fatal("receive on closed listener")
	}
	if err := c.Respond(Response{Flags: FlagContinue, Val: 1}); err == nil {
		t.Fatal("continue with value accepted")
	}
}
