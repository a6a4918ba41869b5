package namespace

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func hashFile(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// writeExe tries to open path for writing and to write to it; it returns
// nil only when both worked.
func writeExe(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write([]byte("overwritten")); err != nil {
		return err
	}
	return nil
}

// runInitHook runs /bin/true in new PID and MNT namespaces from the init
// binary exe, calling hook with the init's pid while it waits for its
// config.
func runInitHook(t *testing.T, exe func() (*sealedExe, error), hook func(pid int)) {
	t.Helper()
	initExe, testHookStarted = exe, hook
	defer func() { initExe, testHookStarted = sealedSelf, nil }()
	c := &Cmd{Path: "/bin/true", Namespaces: Set{PID, MNT}}
	if _, err := c.Run(); err != nil {
		t.Fatal(err)
	}
}

// The init runs from a read-only overlay or a sealed memfd: even root on
// the host cannot write through its /proc/PID/exe, and the binary on disk
// is untouched.
func TestInitBinaryNotWritable(t *testing.T) {
	testutil.RequireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before := hashFile(t, self)
	for _, tc := range []struct {
		kind string
		exe  func() (*sealedExe, error)
		link string
		errs []error
	}{
		{exeOverlay, sealedSelf, "/" + filepath.Base(self), []error{unix.EROFS}},
		{exeMemfd, memfdSelf, "/memfd:confine-init", []error{unix.ETXTBSY, unix.EPERM, unix.EACCES}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			got, err := tc.exe()
			if err != nil {
				t.Fatal(err)
			}
			if got.kind != tc.kind {
				// The overlay is the default as root on Linux 5.2+ with
				// overlayfs (the VM's kernel and this host have both).
				t.Fatalf("init binary method = %s, want %s", got.kind, tc.kind)
			}
			if tc.kind == exeMemfd {
				defer unix.Close(got.fd)
			}
			var writeErr error
			var link string
			runInitHook(t, func() (*sealedExe, error) { return got, nil }, func(pid int) {
				p := "/proc/" + strconv.Itoa(pid) + "/exe"
				link, _ = os.Readlink(p)
				writeErr = writeExe(p)
			})
			ok := false
			for _, e := range tc.errs {
				ok = ok || errors.Is(writeErr, e)
			}
			if !ok {
				t.Errorf("writing /proc/PID/exe of the init: %v, want one of %v", writeErr, tc.errs)
			}
			if !strings.HasPrefix(link, tc.link) {
				t.Errorf("init exe = %q, want %q", link, tc.link)
			}
			if hashFile(t, self) != before {
				t.Error("host binary changed")
			}
		})
	}
}

// The overlay cannot be unwrapped: the init's exe mount cannot be cloned
// (it is in no mount namespace) or, if a kernel allowed that, a clone with
// the read-only flag cleared still refuses writes; and it is visible
// neither on the host nor in the sandbox's mount namespace.
func TestInitBinaryOverlaySealed(t *testing.T) {
	testutil.RequireRoot(t)
	self, err := sealedSelf()
	if err != nil {
		t.Fatal(err)
	}
	if self.kind != exeOverlay {
		t.Fatalf("init binary method = %s, want %s", self.kind, exeOverlay)
	}
	var writeErr error
	var hostInfo, sandboxInfo []byte
	runInitHook(t, sealedSelf, func(pid int) {
		exe := "/proc/" + strconv.Itoa(pid) + "/exe"
		writeErr = writeThroughRWClone(unix.AT_FDCWD, exe)
		hostInfo, _ = os.ReadFile("/proc/self/mountinfo")
		sandboxInfo, _ = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	})
	if !errors.Is(writeErr, unix.EROFS) && !errors.Is(writeErr, errNoClone) {
		t.Errorf("writing the init binary through a read-write clone of its mount: %v, want EROFS or no clone", writeErr)
	}
	if len(sandboxInfo) == 0 {
		t.Fatal("could not read the sandbox's mountinfo")
	}
	for name, info := range map[string][]byte{"host": hostInfo, "sandbox": sandboxInfo} {
		if bytes.Contains(info, []byte(dummyLayerPrefix)) {
			t.Errorf("the init binary's overlay is mounted in the %s mount namespace", name)
		}
	}
}

// An overlay without an upper layer stays read-only when its mount's
// read-only flag is cleared: the superblock itself refuses writes.
func TestOverlayReadOnlySuperblock(t *testing.T) {
	testutil.RequireRoot(t)
	top, other := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(top, "bin"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	mnt, err := mountOverlay(top + ":" + other)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(mnt)
	attr := &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(mnt, "", unix.AT_EMPTY_PATH, attr); err != nil {
		t.Fatalf("mount_setattr: %v", err)
	}
	fd, err := unix.Openat(mnt, "bin", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := writeExe("/proc/self/fd/" + strconv.Itoa(fd)); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing through the overlay mount made read-write: %v, want EROFS", err)
	}
	if err := writeThroughRWClone(fd, ""); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing through a read-write clone of the overlay: %v, want EROFS", err)
	}
	if b, _ := os.ReadFile(filepath.Join(top, "bin")); string(b) != "x" {
		t.Errorf("lower file changed to %q", b)
	}
}

var errNoClone = errors.New("mount cannot be cloned")

// writeThroughRWClone clones the mount under path (a detached copy, as an
// attacker with CAP_SYS_ADMIN could), clears its read-only flag and tries
// to write the file through it.
func writeThroughRWClone(dirfd int, path string) error {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if path == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	fd, err := unix.OpenTree(dirfd, path, uint(flags))
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w: open_tree: %w", errNoClone, err)
	}
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return writeExe("/proc/self/fd/" + strconv.Itoa(fd))
}

// The memfd fallback holds the same bytes as the binary and is sealed.
func TestInitBinaryMemfd(t *testing.T) {
	self, err := memfdSelf()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self.fd)
	seals, err := unix.FcntlInt(uintptr(self.fd), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	const want = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if seals&want != want {
		t.Errorf("seals = %#x, want %#x", seals, want)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if hashFile(t, "/proc/self/fd/"+strconv.Itoa(self.fd)) != hashFile(t, exe) {
		t.Error("memfd copy differs from the binary")
	}
}

// A file that is not the running binary (as after the binary was replaced
// on disk) is refused, so the init is never a different program.
func TestSameBinaryRejectsOtherFile(t *testing.T) {
	fd, err := unix.Open("/bin/true", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := sameBinary(fd); err == nil {
		t.Error("sameBinary accepted /bin/true as the running binary")
	}
	self, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	if err := sameBinary(self); err != nil {
		t.Errorf("sameBinary refused the running binary: %v", err)
	}
}

// In the VM (Linux 6.1, overlay a loadable module that nothing loads at
// boot, and no /sbin/modprobe for the kernel to autoload it) the init
// binary is the memfd fallback until overlayfs is loaded; once it is, the
// overlay method works on 6.1 too. Either way the sandbox cannot write it.
func TestVMInitBinary(t *testing.T) {
	testutil.RequireVM(t)
	self, err := sealedSelf()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	want := exeMemfd
	if bytes.Contains(fs, []byte("\toverlay\n")) {
		want = exeOverlay
	}
	t.Logf("init binary: %s", self.kind)
	if self.kind != want {
		t.Errorf("init binary method = %s, want %s (/proc/filesystems decides)", self.kind, want)
	}
	checkInitNotWritable(t, self, unix.EROFS, unix.ETXTBSY, unix.EPERM, unix.EACCES)
	if out, err := exec.Command("modprobe", "overlay").CombinedOutput(); err != nil {
		t.Fatalf("modprobe overlay: %v: %s", err, out)
	}
	fd, err := overlaySelf()
	if err != nil {
		t.Fatalf("overlay method with overlayfs loaded: %v", err)
	}
	defer unix.Close(fd)
	checkInitNotWritable(t, &sealedExe{fd: fd, kind: exeOverlay}, unix.EROFS)
}

// checkInitNotWritable starts an init from exe and fails unless writing its
// /proc/PID/exe fails with one of errs.
func checkInitNotWritable(t *testing.T, exe *sealedExe, errs ...error) {
	t.Helper()
	var writeErr error
	runInitHook(t, func() (*sealedExe, error) { return exe, nil }, func(pid int) {
		writeErr = writeExe("/proc/" + strconv.Itoa(pid) + "/exe")
	})
	for _, e := range errs {
		if errors.Is(writeErr, e) {
			return
		}
	}
	t.Errorf("%s: writing /proc/PID/exe of the init: %v, want one of %v", exe.kind, writeErr, errs)
}

func TestLayersOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"/tmp", "/tmp", true},
		{"/tmp", "/tmp/go-build1/b001", true},
		{"/tmp/go-build1/b001", "/tmp", true},
		{"/", "/usr/bin", true},
		{"/tmp", "/usr/local/bin", false},
		{"/tmp", "/tmpx", false},
		{"/dev/shm", "/tmp", false},
	} {
		if got := layersOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("layersOverlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// A binary lying right in the temporary directory (/tmp/prog) still gets
// the overlay: the empty layer must then be made elsewhere, or overlayfs
// refuses the overlapping layers with ELOOP and every start pays for a
// memfd copy of the whole binary.
func TestOverlaySelfBinaryInTempDir(t *testing.T) {
	testutil.RequireRoot(t)
	if os.Getenv("CONFINE_TEST_OVERLAY_KIND") == "1" {
		fd, err := overlaySelf()
		if err != nil {
			t.Fatalf("overlaySelf from %s: %v", os.Args[0], err)
		}
		unix.Close(fd)
		return
	}
	if _, err := overlaySelf(); err != nil {
		t.Skipf("no overlay method here at all: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp("", "confine-overlay-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(src); err != nil {
		t.Fatal(err)
	}
	f.Chmod(0o700)
	f.Close()
	cmd := exec.Command(f.Name(), "-test.run=^TestOverlaySelfBinaryInTempDir$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CONFINE_TEST_OVERLAY_KIND=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("binary in %s: %v\n%s", os.TempDir(), err, out)
	}
}
