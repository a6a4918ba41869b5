package netns

import (
	"errors"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/namespace"
)

// RunDir is where named network namespaces live, as with `ip netns`.
const RunDir = "/run/netns"

// runDirMu serialises the one-time setup of RunDir inside this process,
// so concurrent Creates do not stack bind mounts of it.
var runDirMu sync.Mutex

// Create makes a new network namespace named name, kept alive by a bind
// mount on RunDir/name (what `ip netns add NAME` does), and returns a
// handle to it. The caller's threads stay where they are. The namespace
// persists until Delete, even after the handle is closed.
func Create(name string) (*Handle, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := ensureRunDir(); err != nil {
		return nil, err
	}
	path := filepath.Join(RunDir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("creating", path, err)
	}
	unix.Close(fd)
	h, err := mountNewNetns(path)
	if err != nil {
		_ = unix.Unmount(path, unix.MNT_DETACH) // mounted if only the restore failed
		_ = unix.Unlink(path)
		return nil, err
	}
	return h, nil
}

// ensureRunDir makes RunDir a shared mount point, binding it onto itself
// first if it is not one yet, so that the namespace mounts below it
// propagate to mount namespaces created later (and their removal too).
func ensureRunDir() error {
	runDirMu.Lock()
	defer runDirMu.Unlock()
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return opErr("creating", RunDir, err)
	}
	const shared = unix.MS_SHARED | unix.MS_REC
	err := unix.Mount("", RunDir, "none", shared, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) { // EINVAL: not a mount point yet
		return opErr("making shared mount", RunDir, err)
	}
	if err := unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return opErr("bind-mounting", RunDir, err)
	}
	return opErr("making shared mount", RunDir, unix.Mount("", RunDir, "none", shared, ""))
}

// mountNewNetns makes a network namespace (namespace.New: on a throwaway
// thread, the caller's threads never move) and bind-mounts it on path.
// The handle is the namespace just made even if path is tampered with
// meanwhile.
func mountNewNetns(path string) (*Handle, error) {
	h, err := namespace.New(namespace.NET)
	if err != nil {
		return nil, opErr("creating", path, err)
	}
	if err := h.Bind(path); err != nil {
		h.Close()
		return nil, opErr("bind-mounting netns on", path, err)
	}
	return h, nil
}

// Delete removes the named namespace made by Create or `ip netns add`:
// it detaches the bind mount and unlinks the file. The namespace itself
// lives on while processes or open handles still use it. Deleting a name
// that does not exist returns an *StepError matching os.ErrNotExist.
func Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	path := filepath.Join(RunDir, name)
	// NOFOLLOW: a symlink planted in RunDir must not redirect the unmount.
	err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: a stale, unmounted file
		return opErr("unmounting", path, err)
	}
	return opErr("removing", path, unix.Unlink(path))
}

// OpenName opens the named namespace RunDir/name.
func OpenName(name string) (*Handle, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	return OpenPath(filepath.Join(RunDir, name))
}

// List returns the names in RunDir, sorted. A missing RunDir means none.
func List() ([]string, error) {
	ents, err := os.ReadDir(RunDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, opErr("listing", RunDir, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
