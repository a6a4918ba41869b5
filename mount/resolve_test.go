package mount

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

// resolvers runs a test against both the openat2 path and the fallback.
var resolvers = []struct {
	name string
	fn   func(root int, p string, noSymlinks bool) (int, error)
}{
	{"openat2", openat2InRoot},
	{"walk", walkInRoot},
}

// hostileTree builds a rootfs full of symlinks that point out of it, next
// to an "outside" directory that must never be reached.
func hostileTree(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{root + "/a/b", root + "/inside", outside + "/target"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"abs":      outside,                      // absolute, to the host
		"rel":      "../outside",                 // relative, climbing out
		"deep":     "a/b/../../../../../outside", // more .. than depth
		"slash":    "/",                          // the host root
		"proc":     "/proc/self/root",            // a magic link path
		"loop1":    "loop2",
		"loop2":    "loop1",
		"a/b/up":   "../../..",
		"toinside": "inside",
		"dangling": "nowhere/x",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root, outside
}

func openDir(t *testing.T, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// fdPath returns where an fd really points (for checking containment).
func fdPath(t *testing.T, fd int) string {
	t.Helper()
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveStaysInRoot(t *testing.T) {
	testutil.CheckLeaks(t)
	root, _ := hostileTree(t)
	rfd := openDir(t, root)
	cases := map[string]string{ // path -> where it must land (relative to root), "" = error
		"/":                   "",
		"abs":                 "/outside-missing",
		"rel":                 "/outside-missing",
		"deep":                "/outside-missing",
		"slash":               ".",
		"slash/inside":        "inside",
		"a/b/up":              ".",
		"a/b/up/inside":       "inside",
		"../../../inside":     "inside",
		"toinside":            "inside",
		"/a/../a/b":           "a/b",
		"abs/target":          "/outside-missing",
		"loop1":               "/ELOOP",
		"dangling":            "/ENOENT",
		"file/x":              "/ENOTDIR",
		"proc/self/root/etc":  "/ELOOP",
		"inside/./../a//b/./": "a/b",
	}
	for _, r := range resolvers {
		for p, want := range cases {
			fd, err := r.fn(rfd, p, false)
			switch {
			case strings.HasPrefix(want, "/E"):
				if !errors.Is(err, errnoByName(want[1:])) {
					t.Errorf("%s %q: got %v, want %s", r.name, p, err, want[1:])
				}
			case want == "/outside-missing":
				// The link's target, reinterpreted inside root, does not exist.
				if !errors.Is(err, unix.ENOENT) {
					t.Errorf("%s %q: got fd %d (%v), want ENOENT (target outside root)", r.name, p, fd, err)
				}
			default:
				if err != nil {
					t.Errorf("%s %q: %v", r.name, p, err)
					continue
				}
				exp := filepath.Join(root, want)
				if p == "/" {
					exp = root
				}
				if got := fdPath(t, fd); got != exp {
					t.Errorf("%s %q: resolved to %s, want %s", r.name, p, got, exp)
				}
			}
			if err == nil {
				unix.Close(fd)
			}
		}
	}
}

func errnoByName(name string) error {
	switch name {
	case "ELOOP":
		return unix.ELOOP
	case "ENOENT":
		return unix.ENOENT
	case "ENOTDIR":
		return unix.ENOTDIR
	}
	return errors.New("unknown errno " + name)
}

func TestResolveNoSymlinks(t *testing.T) {
	root, _ := hostileTree(t)
	rfd := openDir(t, root)
	for _, r := range resolvers {
		if _, err := r.fn(rfd, "toinside", true); !errors.Is(err, unix.ELOOP) {
			t.Errorf("%s: symlink accepted with noSymlinks: %v", r.name, err)
		}
		fd, err := r.fn(rfd, "a/b", true)
		if err != nil {
			t.Errorf("%s: a/b: %v", r.name, err)
		} else {
			unix.Close(fd)
		}
	}
}

func TestEnsureCreatesInsideRoot(t *testing.T) {
	for _, r := range []string{"openat2", "walk"} {
		t.Run(r, func(t *testing.T) {
			if r == "walk" {
				noOpenat2.Store(true)
				defer noOpenat2.Store(false)
			}
			testutil.CheckLeaks(t)
			root, outside := hostileTree(t)
			rfd := openDir(t, root)
			for _, p := range []string{"abs/new", "rel/x/y", "deep/z", "slash/" + outside + "/w"} {
				fd, err := ensureInRoot(rfd, p, true, true, false)
				if err != nil {
					t.Errorf("ensure %q: %v", p, err)
					continue
				}
				if got := fdPath(t, fd); !strings.HasPrefix(got, root+"/") {
					t.Errorf("SECURITY: %q created at %s, outside %s", p, got, root)
				}
				unix.Close(fd)
			}
			fd, err := ensureInRoot(rfd, "abs/file", false, true, false)
			if err != nil {
				t.Fatalf("ensure file: %v", err)
			}
			unix.Close(fd)
			// A dangling symlink's target is created inside the root, or
			// refused when symlinks are not allowed.
			fd, err = ensureInRoot(rfd, "dangling", true, true, false)
			if err != nil {
				t.Errorf("ensure dangling: %v", err)
			} else {
				if got := fdPath(t, fd); got != root+"/nowhere/x" {
					t.Errorf("dangling created at %s", got)
				}
				unix.Close(fd)
			}
			if _, err := ensureInRoot(rfd, "loop1/x", true, true, false); !errors.Is(err, unix.ELOOP) {
				t.Errorf("loop: %v", err)
			}
			if _, err := ensureInRoot(rfd, "toinside/new", true, true, true); !errors.Is(err, unix.ELOOP) {
				t.Errorf("noSymlinks: %v", err)
			}
			// Kinds are checked.
			if _, err := ensureInRoot(rfd, "file", true, true, false); !errors.Is(err, unix.ENOTDIR) {
				t.Errorf("file as dir: %v", err)
			}
			if _, err := ensureInRoot(rfd, "a", false, true, false); !errors.Is(err, unix.EISDIR) {
				t.Errorf("dir as file: %v", err)
			}
			if _, err := ensureInRoot(rfd, "missing", true, false, false); !errors.Is(err, unix.ENOENT) {
				t.Errorf("create=false: %v", err)
			}
			ents, err := os.ReadDir(outside)
			if err != nil || len(ents) != 1 {
				t.Errorf("SECURITY: outside directory changed: %v %v", ents, err)
			}
		})
	}
}
