package seccomp_test

import (
	"fmt"
	"log"
	"os"
	"os/exec"

	"github.com/confinelab/confine/seccomp"
	"golang.org/x/sys/unix"
)

// Resolve the built-in (Docker-equivalent) profile and ask what it does
// with a few syscalls.
func ExampleResolve() {
	r, _, err := seccomp.Resolve(seccomp.Default(), seccomp.Target{Caps: seccomp.DefaultCaps, Kernel: "6.1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("read:", r.Evaluate(unix.AUDIT_ARCH_X86_64, unix.SYS_READ, [6]uint64{}))
	fmt.Println("mount:", r.Evaluate(unix.AUDIT_ARCH_X86_64, unix.SYS_MOUNT, [6]uint64{}))
	fmt.Println("socket(AF_VSOCK):", r.Evaluate(unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_VSOCK}))
	fmt.Println("syscall 500:", r.Evaluate(unix.AUDIT_ARCH_X86_64, 500, [6]uint64{}))
	// Output:
	// read: allow
	// mount: errno(1)
	// socket(AF_VSOCK): errno(1)
	// syscall 500: errno(38)
}

// Parse a Docker profile and compile it; unknown names come back as warnings.
func ExampleParse() {
	p, err := seccomp.Parse([]byte(`{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [
			{"names": ["ptrace", "kexec_load", "teleport"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
		]
	}`))
	if err != nil {
		log.Fatal(err)
	}
	prog, warnings, err := seccomp.CompileProfile(p, seccomp.Target{Kernel: "6.1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(prog.Instructions()) > 0, warnings)
	// Output: true [syscalls[0]: unknown syscall "teleport" skipped]
}

// A Go program sandboxing itself: every thread gets the filter (TSYNC).
func ExampleLoad() {
	prog, _, err := seccomp.CompileProfile(seccomp.Default(), seccomp.Target{Caps: seccomp.DefaultCaps})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := seccomp.Load(prog, seccomp.LoadOptions{Flags: seccomp.FlagTSYNC}); err != nil {
		log.Fatal(err)
	}
	// From here on, mount(2) fails with EPERM in this process.
}

// A supervisor answering one syscall for a child: the child (here a
// re-executed copy of this program, see the package tests) loads a filter
// with FlagNewListener and sends the listener fd over a unix socket; the
// supervisor makes getpriority return 7 in it.
func ExampleListener() {
	l, err := receiveListenerFromChild()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	n, err := l.Receive()
	if err != nil {
		log.Fatal(err)
	}
	if n.Nr == unix.SYS_GETPRIORITY && l.IDValid(n.ID) {
		err = l.Respond(seccomp.Response{ID: n.ID, Val: 7})
	} else {
		err = l.Respond(seccomp.Response{ID: n.ID, Errno: unix.EPERM})
	}
	if err != nil {
		log.Fatal(err)
	}
}

// receiveListenerFromChild starts the child with one end of a socketpair
// and receives the listener fd it sends (SCM_RIGHTS).
func receiveListenerFromChild() (*seccomp.Listener, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pair[0])
	child := os.NewFile(uintptr(pair[1]), "child")
	cmd := exec.Command("/proc/self/exe", "sandboxed-child")
	cmd.ExtraFiles = []*os.File{child}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	child.Close()
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(pair[0], make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no listener received: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no listener received: %v", err)
	}
	return seccomp.NewListener(fds[0])
}

// Check a compiled filter in-process, without loading it: the decision
// for mount(2) on x86_64 under Docker's default profile.
func ExampleProgram_Run() {
	prog, _, err := seccomp.CompileProfile(seccomp.Default(), seccomp.Target{Kernel: "6.1"})
	if err != nil {
		log.Fatal(err)
	}
	act, err := prog.Run(unix.AUDIT_ARCH_X86_64, unix.SYS_MOUNT, [6]uint64{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(act)
	// Output: errno(1)
}

// Build rules by hand, without a profile: deny uname(2) with EPERM on
// x86_64, allow everything else.
func ExampleCompile() {
	r := &seccomp.Resolved{
		Default: seccomp.ActAllow,
		Arches:  []seccomp.ABI{seccomp.ABIX86_64},
		Rules: map[seccomp.ABI][]seccomp.Rule{
			seccomp.ABIX86_64: {{Nr: unix.SYS_UNAME, Name: "uname", Action: seccomp.ActErrno(unix.EPERM)}},
		},
	}
	prog, err := seccomp.Compile(r)
	if err != nil {
		log.Fatal(err)
	}
	uname, _ := prog.Run(unix.AUDIT_ARCH_X86_64, unix.SYS_UNAME, [6]uint64{})
	getpid, _ := prog.Run(unix.AUDIT_ARCH_X86_64, unix.SYS_GETPID, [6]uint64{})
	fmt.Println(uname, getpid)
	// Output: errno(1) allow
}
