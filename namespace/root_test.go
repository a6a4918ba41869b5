package namespace_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
	"github.com/confinelab/confine/mount"
	"github.com/confinelab/confine/namespace"
)

// busyboxRoot builds a minimal rootfs: /bin/busybox with the applets the
// tests run, and an /etc/passwd naming root and nobody.
func busyboxRoot(t testing.TB) string {
	t.Helper()
	root := testutil.BusyboxRoot(t, []string{"proc", "tmp", "etc"},
		"sh", "true", "ls", "cat", "touch", "id", "grep", "tr", "pwd")
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestSpawnPrivateRoot(t *testing.T) {
	testutil.RequireRoot(t)
	root := busyboxRoot(t)
	c := &namespace.Cmd{
		Path: "sh",
		Args: sh(`echo pid $$; echo procs $(ls /proc | grep '^[0-9]' | tr '\n' ,)
touch /rootfile 2>/dev/null && echo rootwrite yes || echo rootwrite no
touch /tmp/f && echo tmpwrite yes; echo user $(id -u); echo cwd $(pwd)`),
		Env:        []string{"PATH=/bin"},
		Dir:        "/tmp",
		Namespaces: fiveNS,
		Credential: &namespace.Credential{User: "nobody"},
		Root: &mount.Root{Path: root, Readonly: true,
			Mounts: []mount.Mount{mount.Proc("/proc"), mount.Tmpfs("/tmp", 1<<20, 0o1777, 0)}},
	}
	out := fields(run(t, c))
	want := map[string]string{"pid": "1", "rootwrite": "no", "tmpwrite": "yes", "user": "65534", "cwd": "/tmp"}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, out[k], v, out)
		}
	}
	if !strings.HasPrefix(out["procs"], "1,") {
		t.Errorf("procs = %q", out["procs"])
	}
	if _, err := os.Stat(filepath.Join(root, "rootfile")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("write reached the host rootfs: %v", err)
	}
}

func TestSpawnRootFailuresLeaveNothing(t *testing.T) {
	testutil.RequireRoot(t)
	checkLeaks(t)
	root := busyboxRoot(t)
	// Missing rootfs: refused before any kernel object exists.
	err := (&namespace.Cmd{Path: "/bin/true", Namespaces: fiveNS, Root: &mount.Root{Path: "/no/such/rootfs"}}).Start()
	var ce *mount.InvalidError
	if !errors.As(err, &ce) {
		t.Errorf("missing rootfs: %v, want *mount.InvalidError", err)
	}
	// A bind source that does not exist fails inside the init.
	err = (&namespace.Cmd{Path: "/bin/true", Namespaces: fiveNS, Root: &mount.Root{Path: root,
		Mounts: []mount.Mount{mount.Bind("/no/such/source", "/tmp", 0)}}}).Start()
	var se *namespace.StepError
	if !errors.As(err, &se) || se.Step != namespace.StepMount {
		t.Errorf("bad bind: %v, want a root *StepError", err)
	}
	// Unknown user inside the rootfs's /etc/passwd.
	err = (&namespace.Cmd{Path: "/bin/true", Namespaces: fiveNS, Root: &mount.Root{Path: root},
		Credential: &namespace.Credential{User: "daemon"}}).Start()
	if !errors.Is(err, namespace.ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	if kids := children(t); kids != "" {
		t.Errorf("children left behind: %s", kids)
	}
	// Other tests on the machine mount things concurrently: look only at
	// the rootfs this test used.
	infos, err := mount.MountsUnder(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos {
		t.Errorf("mount left on the host: %s", i.Mountpoint)
	}
}

// TestRootInJoinedMountNamespace: a Root with a joined MNT namespace is
// built in that namespace (the command is in it, and so is its new root
// afterwards), and nothing of it shows in the caller's mount table.
func TestRootInJoinedMountNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	root := busyboxRoot(t)
	h, err := namespace.New(namespace.MNT)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := &namespace.Cmd{Path: "/bin/sh", Join: []*namespace.Handle{h},
		Root: &mount.Root{Path: root, Mounts: []mount.Mount{mount.Proc("/proc")}},
		Args: sh("echo mnt $(readlink /proc/self/ns/mnt); touch /made-inside && echo touch ok")}
	out := fields(run(t, c))
	if out["mnt"] != h.String() || out["touch"] != "ok" {
		t.Errorf("command: %v, want it in %s, in its root", out, h)
	}
	if _, err := os.Stat(filepath.Join(root, "made-inside")); err != nil {
		t.Errorf("the command's / is not the rootfs: %v", err)
	}
	var inside error
	if err := namespace.Do(func() error { _, inside = os.Stat("/made-inside"); return nil }, h); err != nil {
		t.Fatal(err)
	}
	if inside != nil {
		t.Errorf("the joined namespace's root after the command is not the rootfs: %v", inside)
	}
	// Other tests on the host may mount elsewhere: look at the root only.
	if mine, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mine), root) {
		t.Errorf("a mount at or below %s in the caller's mount table:\n%s", root, mine)
	}
}
