package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func requireSetup(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireKernel(t, "5.12")
}

func TestSetupBusyboxRoot(t *testing.T) {
	requireSetup(t)
	checkBusyboxRoot(t)
}

// TestVMSetupBusyboxRoot runs the private-root and hostile-rootfs checks on
// the VM's older kernel (Debian 6.1, pure cgroup v2).
func TestVMSetupBusyboxRoot(t *testing.T) {
	testutil.RequireVM(t)
	requireSetup(t)
	checkBusyboxRoot(t)
	t.Run("hostile/openat2", func(t *testing.T) { testHostile(t, false) })
	t.Run("hostile/walk", func(t *testing.T) { testHostile(t, true) })
}

func checkBusyboxRoot(t *testing.T) {
	root := busyboxRoot(t)
	canary := t.TempDir() // a host directory the sandbox must not see
	rep := runSetup(t, request{
		Root:   standardRoot(root),
		Canary: canary,
		Exec:   []string{"/bin/busybox", "sh", "-c", "echo hi >/tmp/f && cat /tmp/f; touch /x"},
	})
	if rep.Err != "" {
		t.Fatalf("Setup: %s", rep.Err)
	}
	f := rep.Facts
	want := map[string]string{
		"cwd":                               "/",
		"fds leaked":                        "0",
		"write /probe":                      "EROFS",
		"write /tmp/probe":                  "ok",
		"write /proc/sys/kernel/domainname": "EROFS",
		"read /proc/keys":                   "ok 0",
		"read /proc/timer_list":             "ok 0",
		"read /proc/interrupts":             "ok 0",
		"ls /sys/firmware":                  "ok 0",
		"/proc magic":                       fmt.Sprintf("%#x", unix.PROC_SUPER_MAGIC),
		"/dev/null":                         "char 1:3",
		"write /dev/null":                   "ok",
		"/dev/ptmx":                         "pts/ptmx",
		"write /dev/shm/x":                  "ok",
		"stat canary":                       "ENOENT",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s: got %q, want %q", k, f[k], v)
		}
	}
	if !strings.HasPrefix(f["exec"], "exit status 1: hi") || !strings.Contains(f["exec"], "Read-only") {
		t.Errorf("busybox in the new root: %q", f["exec"])
	}
	// The old root is gone: every mount point is one Setup made.
	allowed := []string{"/", "/proc", "/sys", "/dev", "/tmp", "/dev/pts", "/dev/shm"}
	for _, d := range minimalDevices {
		allowed = append(allowed, "/dev/"+d.name)
	}
	allowed = append(allowed, DefaultMaskedPaths()...)
	allowed = append(allowed, DefaultReadonlyPaths()...)
	for _, p := range rep.Mountpoints {
		if !slices.Contains(allowed, p) {
			t.Errorf("unexpected mount point %q in the new root (old root not detached?)", p)
		}
	}
	if n := strings.Count(strings.Join(rep.Mountpoints, "\n")+"\n", "/\n"); !slices.Contains(rep.Mountpoints, "/") {
		t.Errorf("no root mount in %q (%d)", rep.Mountpoints, n)
	}
	// Setup created /tmp inside the rootfs, not elsewhere.
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || !fi.IsDir() {
		t.Errorf("tmp not created in the rootfs: %v", err)
	}
}

// With Path "" the host's tree is used through the private namespace:
// read-only everywhere except the tmpfs mounted on top, masked paths
// hidden, and the host's mount table untouched.
func TestSetupHostRoot(t *testing.T) {
	requireSetup(t)
	r := DefaultRoot("", true)
	r.Mounts = append(r.Mounts, Tmpfs("/tmp", 1<<20, 0o1777, NoSuid))
	rep := runSetup(t, request{Root: r})
	if rep.Err != "" {
		t.Fatalf("Setup: %s", rep.Err)
	}
	for k, v := range map[string]string{
		"cwd":                               "/",
		"write /probe":                      "EROFS",
		"write /tmp/probe":                  "ok",
		"write /proc/sys/kernel/domainname": "EROFS",
		"read /proc/keys":                   "ok 0",
		"/proc magic":                       fmt.Sprintf("%#x", unix.PROC_SUPER_MAGIC),
	} {
		if got := rep.Facts[k]; got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	if _, err := os.Stat("/probe"); err == nil {
		t.Error("a file was created in the host's root")
	}
}

// With Path "" nothing is ever created on the host's filesystem: a missing
// target is an error naming the step and path.
func TestSetupHostRootMissingTarget(t *testing.T) {
	requireSetup(t)
	target := filepath.Join(t.TempDir(), "missing", "dir")
	rep := runSetup(t, request{Root: Root{Mounts: []Mount{Tmpfs(target, 0, 0, 0)}}})
	if rep.ErrStep != "mount tmpfs" || rep.ErrPath != target || rep.Errno != "ENOENT" {
		t.Fatalf("got %+v", rep)
	}
	if _, err := os.Stat(filepath.Dir(target)); !os.IsNotExist(err) {
		t.Errorf("target parent was created on the host: %v", err)
	}
}

// Invalid input is reported as a *InvalidError before anything is mounted
// (the helper would otherwise have changed its namespace).
func TestSetupInvalidErrorFirst(t *testing.T) {
	requireSetup(t)
	rep := runSetup(t, request{Root: Root{Path: t.TempDir(), Mounts: []Mount{
		Proc("/proc"), {Type: "tmpfs", Target: "/tmp", Options: []string{"size=lots"}},
	}}})
	if !rep.ConfigErr || !strings.Contains(rep.Err, "Mounts[1].Options") {
		t.Fatalf("got %+v", rep)
	}
}

func TestSetupMissingRootfs(t *testing.T) {
	r := Root{Path: filepath.Join(t.TempDir(), "nope")}
	var ce *InvalidError
	if err := r.Setup(); !errors.As(err, &ce) || ce.Field != "Path" {
		t.Fatalf("got %v", err)
	}
}

// Every mount type, and a read-only bind that is read-only all the way
// down (a submount of the source included, thanks to mount_setattr).
func TestSetupMountTypes(t *testing.T) {
	requireSetup(t)
	root := busyboxRoot(t)
	src := t.TempDir()
	if err := os.MkdirAll(src+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	hex := func(v int64) string { return fmt.Sprintf("ok %#x", v) }
	rep := runSetup(t, request{
		Root: Root{Path: root, Mounts: []Mount{
			Proc("/proc"), Sysfs("/sys"), Cgroup2("/sys/fs/cgroup", true),
			Dev("/dev"), Mqueue("/dev/mqueue"),
			Bind(src, "/vol", ReadOnly), Bind(src, "/volrw", 0),
			Tmpfs("/run", 1<<20, 0o755, NoExec),
			{Type: "tmpfs", Source: "scratch space", Target: "/scratch"},
			{Type: "proc", Target: "/mnt"}, // no Source: the kernel's "none"
		}},
		PreTmpfs: []string{src + "/sub"},
		Writes:   []string{"/vol/x", "/vol/sub/x", "/volrw/x", "/volrw/sub/x", "/run/x", "/sys/x", "/probe"},
		Statfs:   []string{"/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/pts", "/dev/shm", "/run", "/vol/sub"},
		Sources:  []string{"/proc", "/sys", "/sys/fs/cgroup", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/run", "/scratch", "/mnt"},
	})
	if rep.Err != "" {
		t.Fatalf("Setup: %s", rep.Err)
	}
	want := map[string]string{
		"write /vol/x":          "EROFS",
		"write /vol/sub/x":      "EROFS", // the submount too: recursive ro
		"write /volrw/x":        "ok",
		"write /volrw/sub/x":    "ok",
		"write /run/x":          "ok",
		"write /sys/x":          "EROFS",
		"write /probe":          "ok", // Readonly not set
		"statfs /sys":           hex(unix.SYSFS_MAGIC),
		"statfs /sys/fs/cgroup": hex(unix.CGROUP2_SUPER_MAGIC),
		"statfs /dev/mqueue":    hex(mqueueMagic),
		"statfs /dev/pts":       hex(unix.DEVPTS_SUPER_MAGIC),
		"statfs /dev/shm":       hex(unix.TMPFS_MAGIC),
		"statfs /run":           hex(unix.TMPFS_MAGIC),
		"statfs /vol/sub":       hex(unix.TMPFS_MAGIC),
		// Source is what the mount table shows (spaces escaped by the kernel).
		"source /proc": "proc", "source /sys": "sysfs", "source /sys/fs/cgroup": "cgroup2",
		"source /dev": "dev", "source /dev/pts": "devpts", "source /dev/shm": "shm",
		"source /dev/mqueue": "mqueue", "source /run": "tmpfs", "source /scratch": `scratch\040space`,
		"source /mnt": "none",
	}
	for k, v := range want {
		if got := rep.Facts[k]; got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	// The bind's submount was copied, the host source is untouched.
	if _, err := os.Stat(src + "/x"); err != nil {
		t.Errorf("write through the rw bind did not reach the source: %v", err)
	}
}

// Filesystem parameters Setup does not know are passed to the kernel; the
// kernel's refusal comes back as a *StepError with the errno.
func TestSetupKernelRejectsOption(t *testing.T) {
	requireSetup(t)
	root := busyboxRoot(t)
	rep := runSetup(t, request{Root: Root{Path: root, Mounts: []Mount{
		Proc("/proc"), {Type: "tmpfs", Target: "/t", Options: []string{"bogus=1"}},
	}}})
	if rep.ErrStep != "mount tmpfs" || rep.ErrPath != "/t" || rep.Errno != "EINVAL" {
		t.Fatalf("got %+v", rep)
	}
}

// TestSetupPropagation: Root.Propagation decides whether a mount made in
// the sandbox shows through copies of the root made in the sandbox
// (shared), does not (private, slave), or whether the root can be copied
// at all (unbindable); a shared root is a peer group of the sandbox's
// own, never one of the host's. Per-mount options set each mount's own.
func TestSetupPropagation(t *testing.T) {
	requireSetup(t)
	hostGroups := map[string]bool{}
	_, hostProps := mountTable()
	for _, p := range hostProps {
		for _, f := range strings.Fields(p) {
			hostGroups[f] = true
		}
	}
	for _, tc := range []struct{ prop, probe, rootProp string }{
		{"", "hidden", ""},
		{"private", "hidden", ""},
		{"rslave", "hidden", ""}, // the root is a clone: no master
		{"shared", "exposed", "shared:"},
		{"rshared", "exposed", "shared:"},
		{"unbindable", "bind EINVAL", "unbindable"},
	} {
		t.Run("root "+tc.prop, func(t *testing.T) {
			root := busyboxRoot(t)
			src := t.TempDir()
			if err := os.Mkdir(src+"/sub", 0o755); err != nil {
				t.Fatal(err)
			}
			rep := runSetup(t, request{
				Root: Root{Path: root, Propagation: tc.prop, Mounts: []Mount{
					Proc("/proc"),
					{Type: "tmpfs", Target: "/t-shared", Options: []string{"shared"}},
					{Type: "tmpfs", Target: "/t-unbindable", Options: []string{"unbindable"}},
					{Type: "bind", Source: src, Target: "/b-rshared", Options: []string{"rbind", "rshared"}},
					{Type: "tmpfs", Target: "/t-plain"},
				}},
				PreTmpfs:  []string{src + "/sub"},
				Props:     []string{"/", "/t-shared", "/t-unbindable", "/b-rshared", "/b-rshared/sub", "/t-plain"},
				PropProbe: true,
			})
			if rep.Err != "" {
				t.Fatalf("Setup: %s", rep.Err)
			}
			f := rep.Facts
			if f["probe"] != tc.probe {
				t.Errorf("a mount made after copying the root: %s, want %s", f["probe"], tc.probe)
			}
			if !strings.HasPrefix(f["prop /"], tc.rootProp) || (tc.rootProp == "") != (f["prop /"] == "") {
				t.Errorf("root propagation %q, want %q...", f["prop /"], tc.rootProp)
			}
			for _, p := range []string{"/t-shared", "/b-rshared", "/b-rshared/sub"} {
				if !strings.HasPrefix(f["prop "+p], "shared:") {
					t.Errorf("%s: propagation %q, want shared", p, f["prop "+p])
				}
			}
			if f["prop /t-unbindable"] != "unbindable" {
				t.Errorf("/t-unbindable: propagation %q", f["prop /t-unbindable"])
			}
			for p, fields := range f {
				if !strings.HasPrefix(p, "prop ") {
					continue
				}
				for _, g := range strings.Fields(fields) {
					if strings.HasPrefix(g, "shared:") && hostGroups[g] {
						t.Errorf("%s is in the host's peer group %s", p, g)
					}
				}
			}
		})
	}
}

// TestSetupMountsInOrder: with a Path, mounts are made in the order given,
// binds included (the mount IDs, by which newer kernels list mountinfo,
// follow it), and a bind's source inside the root sees the mounts made
// before it.
func TestSetupMountsInOrder(t *testing.T) {
	requireSetup(t)
	root := busyboxRoot(t)
	src := t.TempDir()
	rep := runSetup(t, request{
		Root: Root{Path: root, Mounts: []Mount{
			Proc("/proc"),
			Bind(src, "/b1", 0),
			Tmpfs("/t1", 1<<20, 0, 0),
			Bind(root+"/t1", "/b2", 0),
			Tmpfs("/t2", 1<<20, 0, 0),
		}},
		Order:  []string{"/t2", "/b2", "/t1", "/b1", "/proc"},
		Statfs: []string{"/b2"},
	})
	if rep.Err != "" {
		t.Fatalf("Setup: %s", rep.Err)
	}
	if got, want := rep.Facts["order"], "/proc /b1 /t1 /b2 /t2"; got != want {
		t.Errorf("mounts by ID: %s, want %s", got, want)
	}
	if got, want := rep.Facts["statfs /b2"], fmt.Sprintf("ok %#x", unix.TMPFS_MAGIC); got != want {
		t.Errorf("/b2, a bind of the root's /t1 made after the tmpfs on it: %s, want %s", got, want)
	}
}
