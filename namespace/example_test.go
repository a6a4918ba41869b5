package namespace_test

import (
	"fmt"
	"os"

	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// Start /bin/sh in new PID, NET, IPC, MNT and UTS namespaces. The program's
// main (here TestMain) must call namespace.Init first.
func ExampleCmd() {
	c := &namespace.Cmd{
		Path:       "/bin/sh",
		Args:       []string{"sh", "-c", "echo pid $$ on $(hostname)"},
		Namespaces: namespace.Set{namespace.PID, namespace.NET, namespace.IPC, namespace.MNT, namespace.UTS},
		Hostname:   "sandbox",
		Stdout:     os.Stdout,
	}
	st, err := c.Run()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("exit", st.ExitCode)
}

// Run a command behind a read-only private root with its own /proc, as an
// unprivileged user with one capability.
func ExampleCmd_privateRoot() {
	c := &namespace.Cmd{
		Path:       "sh", // looked up in PATH inside the root
		Args:       []string{"sh", "-c", "id"},
		Env:        []string{"PATH=/bin"},
		Namespaces: namespace.Set{namespace.PID, namespace.NET, namespace.IPC, namespace.MNT, namespace.UTS},
		Root: &mount.Root{Path: "/srv/rootfs", Readonly: true,
			Mounts: []mount.Mount{mount.Proc("/proc")}},
		Credential:      &namespace.Credential{UID: 1000, GID: 1000},
		Capabilities:    namespace.OnlyCaps(namespace.CapNetAdmin),
		NoNewPrivileges: true,
	}
	st, err := c.Run()
	fmt.Println(st, err)
}

// Run a function inside another process's network namespace.
func ExampleDo() {
	h, err := namespace.OpenPath("/run/netns/blue")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	err = namespace.Do(func() error {
		// Sockets opened here belong to the "blue" namespace.
		return nil
	}, h)
	fmt.Println(err)
}

// Compare the namespaces of two processes.
func ExampleHandle_Equal() {
	a, _ := namespace.Open(os.Getpid(), namespace.NET)
	b, _ := namespace.Current(namespace.NET)
	defer a.Close()
	defer b.Close()
	fmt.Println(a.Equal(b))
}
