package mount

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// canaryDir returns a host directory outside any rootfs holding one file;
// checkCanary fails the test if anything in it changed.
func canaryDir(t *testing.T) string {
	t.Helper()
	c := filepath.Join(t.TempDir(), "canary")
	if err := os.MkdirAll(c, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c, "marker"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// eachResolver runs test once per path resolver Setup may use: openat2
// with RESOLVE_IN_ROOT, and the walk fallback of kernels before 5.6.
func eachResolver(t *testing.T, test func(t *testing.T, walk bool)) {
	t.Helper()
	for _, walk := range []bool{false, true} {
		t.Run(map[bool]string{false: "openat2", true: "walk"}[walk], func(t *testing.T) {
			test(t, walk)
		})
	}
}

func checkCanary(t *testing.T, c string) {
	t.Helper()
	ents, err := os.ReadDir(c)
	if err != nil || len(ents) != 1 || ents[0].Name() != "marker" {
		t.Errorf("SECURITY: canary %s changed: %v %v", c, ents, err)
	}
	if mounted, err := Mounted(c); err != nil || mounted {
		t.Errorf("SECURITY: canary %s is a mount point on the host (%v)", c, err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// A rootfs whose mount targets are symlinks pointing at the host: every
// mount lands inside the root, nothing is created or mounted outside it.
func TestSetupHostileSymlinkTargets(t *testing.T) {
	requireSetup(t)
	eachResolver(t, testHostile)
}

func testHostile(t *testing.T, walk bool) {
	root := busyboxRoot(t)
	canary := canaryDir(t)
	symlink(t, canary, root+"/abs")                               // absolute, to the host
	symlink(t, strings.Repeat("../", 12)+canary[1:], root+"/rel") // climbing out
	symlink(t, "/", root+"/slash")                                // the host root
	symlink(t, "/proc/self/cwd", root+"/magic")                   // magic link path
	symlink(t, "../../../../"+canary[1:]+"/marker", root+"/file") // a file bind target
	rep := runSetup(t, request{
		Root: Root{Path: root, Mounts: []Mount{
			Tmpfs("/abs", 0, 0, 0),
			Tmpfs("/rel/sub", 0, 0, 0),
			Tmpfs("/slash"+canary, 0, 0, 0),
			Tmpfs("/magic/x", 0, 0, 0),
			Bind("/dev/null", "/file", ReadOnly),
			Proc("/proc"),
		}},
		Canary: canary,
		Walk:   walk,
	})
	if rep.Err != "" {
		t.Fatalf("Setup: %s", rep.Err)
	}
	if rep.Facts["stat canary"] != "ok" {
		// The canary path exists only because Setup created it inside
		// the rootfs; the host's canary is not reachable.
		t.Errorf("canary path inside the root: %s", rep.Facts["stat canary"])
	}
	checkCanary(t, canary)
	// The absolute link's target was created inside the rootfs instead.
	if fi, err := os.Lstat(filepath.Join(root, canary)); err != nil || !fi.IsDir() {
		t.Errorf("symlink target not created inside the root: %v", err)
	}
}

// /proc as a symlink is refused: proc only goes on a real directory.
func TestSetupProcSymlinkRefused(t *testing.T) {
	requireSetup(t)
	root := busyboxRoot(t)
	canary := canaryDir(t)
	if err := os.Remove(root + "/proc"); err != nil {
		t.Fatal(err)
	}
	symlink(t, "/tmp", root+"/proc")
	if err := os.MkdirAll(root+"/tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	rep := runSetup(t, request{Root: Root{Path: root, Mounts: []Mount{Proc("/proc")}}, Canary: canary})
	if rep.ErrStep != "mount proc" || rep.ErrPath != "/proc" || rep.Errno != "ELOOP" {
		t.Fatalf("proc on a symlink: got %+v", rep)
	}
}

// A directory and a symlink to the host are swapped in a loop while Setup
// resolves, creates and mounts through them: whatever wins the race, no
// mount or file appears outside the root.
func TestSetupRaceSymlinkSwap(t *testing.T) {
	requireSetup(t)
	eachResolver(t, testRace)
}

func testRace(t *testing.T, walk bool) {
	root := busyboxRoot(t)
	canary := canaryDir(t)
	if err := os.MkdirAll(root+"/a/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	symlink(t, canary, root+"/alink")
	stopSwapping := startSwapper(unix.AT_FDCWD, root+"/a", root+"/alink")
	defer stopSwapping()
	var ok, failed int
	for i := 0; i < 3; i++ {
		rep := runSetup(t, request{Root: Root{Path: root, Mounts: []Mount{
			Tmpfs("/a/sub", 0, 0, 0),
			Tmpfs("/a/new/dir", 0, 0, 0),
			Bind("/dev/null", "/a/file", 0),
		}}, Canary: canary, Walk: walk})
		if rep.Err != "" {
			failed++
		} else {
			ok++
		}
	}
	swaps := stopSwapping()
	t.Logf("%d swaps; Setup succeeded %d times, failed %d times", swaps, ok, failed)
	if swaps == 0 {
		t.Fatal("the swapper never ran")
	}
	checkCanary(t, canary)
}

// A host /dev/null that is a symlink or a regular file is refused for
// masking a file; a minimal /dev does not use the host's nodes at all (it
// makes its own with mknod), so there it cannot matter.
func TestSetupDevNullSwapRefused(t *testing.T) {
	requireSetup(t)
	for _, kind := range []string{"symlink", "regular"} {
		for _, use := range []string{"dev", "mask"} {
			t.Run(kind+"/"+use, func(t *testing.T) {
				root := busyboxRoot(t)
				fake := t.TempDir()
				if kind == "symlink" {
					symlink(t, "/proc/sys/kernel/core_pattern", fake+"/null")
				} else if err := os.WriteFile(fake+"/null", nil, 0o666); err != nil {
					t.Fatal(err)
				}
				r := Root{Path: root, Mounts: []Mount{Proc("/proc")}}
				if use == "dev" {
					r.Mounts = append(r.Mounts, Dev("/dev"))
				} else {
					r.MaskedPaths = []string{"/proc/keys"}
				}
				rep := runSetup(t, request{Root: r, HostDev: fake})
				if use == "dev" {
					if rep.Err != "" || rep.Facts["/dev/null"] != "char 1:3" {
						t.Fatalf("minimal /dev with a fake host /dev/null: %+v", rep)
					}
					return
				}
				if !rep.DeviceErr {
					t.Fatalf("fake /dev/null accepted: %+v", rep)
				}
				if !strings.Contains(rep.Err, "want char 1:3") {
					t.Errorf("error does not say what was expected: %s", rep.Err)
				}
			})
		}
	}
}
