package namespace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// dummyLayerPrefix names the empty directory used as the second overlay
// layer; tests look for it in mountinfo to prove the mount is detached.
const dummyLayerPrefix = ".confine-exe-"

// overlaySelf opens this binary through a private, read-only overlayfs
// mount and returns an O_PATH fd of it: a zero-copy alternative to the
// memfd. The mount is created with the new mount API (fsopen, fsmount:
// Linux 5.2) and never attached anywhere, so no path reaches it, and a
// CLONE_NEWNS child does not inherit it. An overlay without an upper layer
// has a read-only superblock that cannot be remounted read-write (the
// kernel refuses it with EROFS), so unlike a read-only bind mount, clearing
// the mount's read-only flag on a clone of it would not make the binary
// writable either. Opening /proc/PID/exe of the init for writing fails
// with EROFS.
//
// It fails (and the caller falls back to the memfd copy) without
// CAP_SYS_ADMIN, without overlayfs, when the binary was deleted or
// replaced on disk since this process started, or when its directory
// cannot be an overlay layer.
func overlaySelf() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return -1, fmt.Errorf("reading /proc/self/exe: %w", err)
	}
	dir, name := filepath.Split(exe)
	// ':' separates layers and '\' escapes; such paths are rare enough
	// not to be worth escaping.
	if !filepath.IsAbs(exe) || strings.ContainsAny(dir, `:\`) || name == "" {
		return -1, fmt.Errorf("binary path %q cannot be an overlay layer", exe)
	}
	// Overlay needs two lower layers when it has no upper one; the second is
	// an empty directory, removed again once the superblock holds it.
	parent, err := dummyParent(dir)
	if err != nil {
		return -1, err
	}
	dummy, err := os.MkdirTemp(parent, dummyLayerPrefix)
	if err != nil {
		return -1, fmt.Errorf("creating the empty overlay layer: %w", err)
	}
	defer os.Remove(dummy)
	mnt, err := mountOverlay(dir + ":" + dummy)
	if err != nil {
		return -1, err
	}
	defer unix.Close(mnt)
	// The binary's directory is the top layer, so nothing in the dummy
	// layer can shadow it.
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening %s through overlayfs: %w", name, err)
	}
	if err := sameBinary(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// dummyParent picks the directory the empty layer is made in. Overlayfs
// refuses layers that overlap (one inside the other: ELOOP), so the
// temporary directory does not do for a binary that lies in it (say
// /tmp/prog, whose layer /tmp would contain /tmp/.confine-exe-*); the
// next candidate that neither contains nor lies inside the binary's
// directory does.
func dummyParent(exeDir string) (string, error) {
	exeDir = filepath.Clean(exeDir)
	for _, c := range []string{os.TempDir(), "/dev/shm", "/run", "/dev"} {
		p, err := filepath.EvalSymlinks(c)
		if err != nil || strings.ContainsAny(p, `:\`) || layersOverlap(p, exeDir) {
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("no directory for the empty overlay layer outside %s", exeDir)
}

// layersOverlap reports whether clean absolute paths a and b are the same
// directory or one lies inside the other.
func layersOverlap(a, b string) bool {
	in := func(x, dir string) bool {
		return x == dir || dir == "/" || strings.HasPrefix(x, dir+"/")
	}
	return in(a, b) || in(b, a)
}

// mountOverlay creates the detached read-only overlay of the given lower
// layers and returns its mount fd.
func mountOverlay(lower string) (int, error) {
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen(overlay): %w", err)
	}
	defer unix.Close(ctx)
	if err := unix.FsconfigSetString(ctx, "lowerdir", lower); err != nil {
		return -1, fmt.Errorf("fsconfig(overlay, lowerdir=%s): %w", lower, err)
	}
	// With xino off an overlay reports the lower file's inode number
	// unchanged, which sameBinary relies on; an old kernel without the
	// option keeps its default and sameBinary then refuses the result.
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return -1, fmt.Errorf("fsconfig(overlay, create): %w", err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, fmt.Errorf("fsmount(overlay): %w", err)
	}
	return mnt, nil
}

// sameBinary checks that fd is the file this process runs, not one that
// replaced it on disk since (the init must be this very binary). The
// overlay changes st_dev, so inode number, size and change times decide.
func sameBinary(fd int) error {
	var got, want unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		return fmt.Errorf("stat of the overlay binary: %w", err)
	}
	if err := unix.Stat("/proc/self/exe", &want); err != nil {
		return fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	if got.Mode&unix.S_IFMT != unix.S_IFREG || got.Ino != want.Ino || got.Size != want.Size ||
		got.Mtim != want.Mtim || got.Ctim != want.Ctim {
		return errors.New("the binary on disk is not the one running")
	}
	return nil
}
