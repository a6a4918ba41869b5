package mount

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeviceNodesValidate(t *testing.T) {
	ok := DeviceNode{Path: "/dev/fuse", Type: 'c', Major: 10, Minor: 229}
	for _, tc := range []struct {
		d     DeviceNode
		field string
	}{
		{DeviceNode{Path: "/dev/../etc/passwd", Type: 'c', Major: 1, Minor: 3}, "Devices[1].Path"},
		{DeviceNode{Path: "/etc/null", Type: 'c', Major: 1, Minor: 3}, "Devices[1].Path"},
		{DeviceNode{Path: "/dev", Type: 'c', Major: 1, Minor: 3}, "Devices[1].Path"},
		{DeviceNode{Path: "dev/null", Type: 'c', Major: 1, Minor: 3}, "Devices[1].Path"},
		{DeviceNode{Path: "/dev//fuse/.", Type: 'c', Major: 1, Minor: 3}, "Devices[1].Path"}, // same as [0]
		{DeviceNode{Path: "/dev/x", Type: 'u', Major: 1, Minor: 3}, "Devices[1].Type"},
		{DeviceNode{Path: "/dev/x", Type: 'b', Major: 4096}, "Devices[1].Major"},
		{DeviceNode{Path: "/dev/x", Type: 'c', Minor: 1 << 20}, "Devices[1].Minor"},
		{DeviceNode{Path: "/dev/x", Type: 'c', Mode: 0o10666}, "Devices[1].Mode"},
	} {
		r := Root{Path: t.TempDir(), Devices: []DeviceNode{ok, tc.d}}
		err := r.Validate()
		ie, isInvalid := err.(*InvalidError)
		if !isInvalid || ie.Field != tc.field {
			t.Errorf("%+v: %v, want an *InvalidError for %s", tc.d, err, tc.field)
		}
	}
	r := Root{Path: t.TempDir(), Devices: []DeviceNode{ok, {Path: "/dev/net/tun", Type: 'c', Major: 10, Minor: 200}, {Path: "/dev/fifo", Type: 'p'}}}
	if err := r.Validate(); err != nil {
		t.Errorf("valid nodes refused: %v", err)
	}
}

// Nodes made in the minimal /dev: a null-like char device at another path
// works as /dev/null does (writes vanish, reads see EOF), a FIFO in a
// directory Setup creates, and an existing node re-listed keeps working,
// each with the mode and owner asked for.
func TestSetupDeviceNodes(t *testing.T) {
	requireSetup(t)
	root := busyboxRoot(t)
	r := DefaultRoot(root, false)
	r.Devices = []DeviceNode{
		{Path: "/dev/mynull", Type: 'c', Major: 1, Minor: 3, Mode: 0o620, UID: 1000, GID: 5},
		{Path: "/dev/sub/dir/fifo", Type: 'p', Mode: 0o600},
		{Path: "/dev/null", Type: 'c', Major: 1, Minor: 3},
	}
	rep := runSetup(t, request{
		Root: r,
		Stat: []string{"/dev/mynull", "/dev/sub/dir/fifo", "/dev/null"},
		Exec: []string{"/bin/busybox", "sh", "-c", "echo data > /dev/mynull && wc -c < /dev/mynull"},
	})
	if rep.Err != "" {
		t.Fatalf("Setup: %s", rep.Err)
	}
	for k, v := range map[string]string{
		"stat /dev/mynull":       "char 1:3 0620 1000:5",
		"stat /dev/sub/dir/fifo": "file type 010000 0600 0:0",
		"stat /dev/null":         "char 1:3 0666 0:0",
		"exec":                   "<nil>: 0",
	} {
		if got := rep.Facts[k]; got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "dev", "mynull")); !os.IsNotExist(err) {
		t.Errorf("node made in the rootfs's own /dev, not the minimal /dev: %v", err)
	}
}

// A hostile rootfs without a /dev mount: its /dev/sub is a symlink out of
// /dev and its /dev/abs one to the host. No node is made anywhere through
// them; Setup fails naming the node, and nothing changed on the host.
func TestSetupDeviceNodesHostile(t *testing.T) {
	requireSetup(t)
	eachResolver(t, func(t *testing.T, walk bool) {
		root := busyboxRoot(t)
		canary := canaryDir(t)
		symlink(t, "../etc", root+"/dev/sub")
		symlink(t, canary, root+"/dev/abs")
		for _, p := range []string{"/dev/sub/evil", "/dev/abs/evil"} {
			rep := runSetup(t, request{Walk: walk, Canary: canary, Root: Root{Path: root, Mounts: []Mount{Proc("/proc")},
				Devices: []DeviceNode{{Path: p, Type: 'c', Major: 1, Minor: 3}}}})
			if rep.ErrStep != "device" || rep.ErrPath != p || rep.Errno != "ELOOP" {
				t.Errorf("%s: got %+v, want step device, ELOOP", p, rep)
			}
		}
		if _, err := os.Lstat(filepath.Join(root, "etc", "evil")); !os.IsNotExist(err) {
			t.Errorf("SECURITY: node made outside /dev: %v", err)
		}
		checkCanary(t, canary)
		// /dev itself a symlink: refused too.
		os.Remove(root + "/dev/sub")
		os.Remove(root + "/dev/abs")
		os.Remove(root + "/dev")
		symlink(t, "etc", root+"/dev")
		rep := runSetup(t, request{Walk: walk, Root: Root{Path: root, Devices: []DeviceNode{{Path: "/dev/x", Type: 'p'}}}})
		if rep.ErrStep != "device" || rep.Errno != "ELOOP" {
			t.Errorf("/dev a symlink: got %+v", rep)
		}
		if _, err := os.Lstat(filepath.Join(root, "etc", "x")); !os.IsNotExist(err) {
			t.Errorf("SECURITY: node made through a /dev symlink: %v", err)
		}
	})
}

// A node already at the path that is not the one asked for is refused, not
// reused: the rootfs cannot pass off its own inode.
func TestSetupDeviceNodeMismatch(t *testing.T) {
	requireSetup(t)
	root := busyboxRoot(t)
	if err := os.WriteFile(root+"/dev/fake", []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	rep := runSetup(t, request{Root: Root{Path: root, Devices: []DeviceNode{{Path: "/dev/fake", Type: 'c', Major: 1, Minor: 3}}}})
	if !rep.DeviceErr || rep.ErrPath != "/dev/fake" || !strings.Contains(rep.Err, "regular file") {
		t.Errorf("got %+v, want a *DeviceError for /dev/fake", rep)
	}
}

// With Path "" the host's /dev is never written: nodes need a /dev mount.
func TestSetupDeviceNodesHostRoot(t *testing.T) {
	requireSetup(t)
	rep := runSetup(t, request{Root: Root{Devices: []DeviceNode{{Path: "/dev/confine-test-node", Type: 'p'}}}})
	if rep.ErrStep != "device" || rep.Errno != "EROFS" {
		t.Errorf("got %+v", rep)
	}
	if _, err := os.Lstat("/dev/confine-test-node"); !os.IsNotExist(err) {
		os.Remove("/dev/confine-test-node")
		t.Errorf("SECURITY: node made in the host's /dev")
	}
	r := DefaultRoot("", true)
	r.Devices = []DeviceNode{{Path: "/dev/confine-test-node", Type: 'c', Major: 1, Minor: 5}}
	rep = runSetup(t, request{Root: r, Stat: []string{"/dev/confine-test-node"}})
	if rep.Err != "" || rep.Facts["stat /dev/confine-test-node"] != "char 1:5 0666 0:0" {
		t.Errorf("node in the minimal /dev over the host root: %+v", rep)
	}
}
