package namespace_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/namespace"
)

func init() { testutil.RegisterHelper("enterkilled", helperEnterKilled) }

// helperEnterKilled starts `sleep 600` (as uid 1000, so the init changes
// credentials) in the sandbox of pid args[0], its command held before
// execve on fd 3. At Start's step args[1] ("forked": it knows the
// command's pid but has not released it; "released": it has) it prints
// "INIT PID" and stops for good. It is meant to be killed.
func helperEnterKilled(args []string) int {
	sb, ok := helperSandbox(args[0])
	if !ok {
		return 1
	}
	c := &namespace.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "600"}, Sandbox: sb,
		Env: []string{}, Credential: &namespace.Credential{UID: 1000, GID: 1000}}
	namespace.SetTestHold(c, os.NewFile(3, "hold"))
	namespace.SetTestHookEntered(func(step string, initPid, pid int) {
		if step != args[1] {
			return
		}
		fmt.Println(initPid, pid)
		for {
			time.Sleep(time.Hour)
		}
	})
	if err := c.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	return 0 // not reached: the hook stops Start until the test kills this process
}

// The process that calls Start is SIGKILLed while the init it forked has
// joined the sandbox and forked the command, which waits before execve
// (held by the test). Killed before Start released the command, nothing
// is left: the init dies with it at once (its parent-death signal,
// armed again after its credential change), and the command, once let
// go, exits without ever running. Killed after the release, the command
// is handed over: it runs.
func TestEnterStarterKilled(t *testing.T) {
	for _, released := range []bool{false, true} {
		t.Run(map[bool]string{false: "before-release", true: "after-release"}[released], func(t *testing.T) {
			starterKilled(t, released)
		})
	}
}

func starterKilled(t *testing.T, released bool) {
	s := startSandbox(t, nil)
	holdR, holdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer holdW.Close()
	mode := "forked"
	if released {
		mode = "released"
	}
	starter := testutil.HelperCommand(t, "enterkilled", strconv.Itoa(s.init.Pid()), mode)
	starter.ExtraFiles = []*os.File{holdR}
	out, err := starter.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := starter.Start(); err != nil {
		t.Fatal(err)
	}
	holdR.Close()
	line, _ := bufio.NewReader(out).ReadString('\n')
	var initPid, pid int
	if _, err := fmt.Sscan(line, &initPid, &pid); err != nil {
		_ = starter.Process.Kill()
		_ = starter.Wait()
		t.Fatalf("starter: %q", line)
	}
	initFD, cmdFD := pidfdOf(t, initPid), pidfdOf(t, pid)
	defer unix.Close(initFD)
	defer unix.Close(cmdFD)
	if got := cgroupProcs(t, s.cg); !slices.Contains(got, pid) || !slices.Contains(got, initPid) {
		t.Fatalf("init %d and command %d not both in the sandbox's cgroup: %v", initPid, pid, got)
	}
	_ = starter.Process.Kill()
	_ = starter.Wait()

	if !exited(initFD, 10*time.Second) {
		t.Errorf("the init %d (%q) outlived the process that started it", initPid, cmdlineOf(initPid))
	}
	if exited(cmdFD, 0) || cmdlineOf(pid) != "confine-init" {
		t.Fatalf("the held command %d is gone or changed (%q) before the test let it go", pid, cmdlineOf(pid))
	}
	if _, err := holdW.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if !released {
		if !exited(cmdFD, 10*time.Second) {
			ran := cmdlineOf(pid)
			_ = unix.PidfdSendSignal(cmdFD, unix.SIGKILL, nil, 0)
			t.Fatalf("the command %d ran (%q) though its starter died before releasing it", pid, ran)
		}
	} else {
		waitForCond(t, "the released command to run", func() bool { return cmdlineOf(pid) == "sleep 600" })
		_ = unix.PidfdSendSignal(cmdFD, unix.SIGKILL, nil, 0)
		if !exited(cmdFD, 10*time.Second) {
			t.Fatalf("command %d survived SIGKILL", pid)
		}
	}
	waitForCond(t, "the sandbox's cgroup to hold its init alone", func() bool {
		return slices.Equal(cgroupProcs(t, s.cg), []int{s.init.Pid()})
	})
}

func pidfdOf(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	if got := cmdlineOf(pid); got != "confine-init" {
		unix.Close(fd)
		t.Fatalf("process %d is %q, want a setup process", pid, got)
	}
	return fd
}

// exited reports whether the process behind pidfd exits within d.
func exited(pidfd int, d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for end := time.Now().Add(d); ; {
		n, err := unix.Poll(fds, int(max(time.Until(end), 0).Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n == 1
	}
}

// cgroupProcs lists the pids in cgroup directory cg.
func cgroupProcs(t *testing.T, cg string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		out = append(out, pid)
	}
	return out
}
