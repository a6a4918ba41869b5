package namespace_test

import (
	"fmt"
	"os"
	"syscall"

	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// Run another command inside a sandbox that is already running, as an OCI
// runtime's exec does: here `ps` as an unprivileged user.
func ExampleOpenSandbox() {
	sandbox := &namespace.Cmd{
		Path: "/bin/sleep", Args: []string{"sleep", "600"},
		Namespaces: namespace.Set{namespace.PID, namespace.NET, namespace.IPC, namespace.MNT, namespace.UTS},
		Root:       &mount.Root{Path: "/srv/rootfs", Readonly: true, Mounts: []mount.Mount{mount.Proc("/proc")}},
	}
	if err := sandbox.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer sandbox.Wait()
	defer sandbox.Signal(syscall.SIGKILL)

	sb, err := namespace.OpenSandbox(sandbox.PidFD())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sb.Close()
	c := &namespace.Cmd{
		Path:         "ps", // looked up in the sandbox's PATH, in its root
		Env:          []string{"PATH=/bin"},
		Sandbox:      sb, // its namespaces, root and cgroup; its limits
		Credential:   &namespace.Credential{UID: 1000, GID: 1000},
		Capabilities: &namespace.Capabilities{},
		Stdout:       os.Stdout,
	}
	st, err := c.Run()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("exit", st.ExitCode)
}
