package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// RunNetnsDir is where named network namespaces live (`ip netns`).
const RunNetnsDir = "/run/netns"

// runNetnsState remembers, across concurrently running test binaries, what
// /run/netns looked like before the first of them touched it.
var runNetnsState = filepath.Join(os.TempDir(), "confine-test-run-netns.state")

// PreserveRunNetns lets tests create named network namespaces without
// leaving /run/netns behind. Call it from TestMain around m.Run.
//
// The first caller among concurrently running test binaries (go test runs
// packages in parallel) records whether /run/netns existed and was a mount
// point; each holds a shared flock on /run while it runs. The last one to
// finish puts /run/netns back as recorded: it unmounts the bind mount that
// Create or `ip netns add` made and removes the directory, but only while
// it is empty and nothing is mounted below it, so namespaces made by
// anyone else are never touched (the record then stays for a later run).
func PreserveRunNetns() (restore func() error) {
	lock, err := unix.Open(filepath.Dir(RunNetnsDir), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return func() error { return nil }
	}
	_ = unix.Flock(lock, unix.LOCK_EX)
	if _, err := os.Stat(runNetnsState); errors.Is(err, os.ErrNotExist) {
		_, statErr := os.Stat(RunNetnsDir)
		mounted, _ := mountinfo.Mounted(RunNetnsDir)
		state := fmt.Sprintf("existed=%t mounted=%t\n", statErr == nil, mounted)
		_ = os.WriteFile(runNetnsState, []byte(state), 0o600)
	}
	_ = unix.Flock(lock, unix.LOCK_SH)
	return func() error {
		defer unix.Close(lock)
		_ = unix.Flock(lock, unix.LOCK_UN)
		if unix.Flock(lock, unix.LOCK_EX|unix.LOCK_NB) != nil {
			return nil // another test binary still runs; the last one restores
		}
		b, err := os.ReadFile(runNetnsState)
		if err != nil {
			return nil
		}
		done, err := restoreRunNetns(strings.Contains(string(b), "existed=true"),
			strings.Contains(string(b), "mounted=true"))
		if done {
			_ = os.Remove(runNetnsState)
		}
		return err
	}
}

// restoreRunNetns undoes what tests added to an empty /run/netns. done
// reports whether it is back as recorded.
func restoreRunNetns(existed, wasMount bool) (done bool, err error) {
	ents, err := os.ReadDir(RunNetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil || len(ents) > 0 {
		return false, err // in use: leave it
	}
	if mounted, _ := mountinfo.Mounted(RunNetnsDir); mounted && !wasMount {
		// Not MNT_DETACH: EBUSY if someone mounted a netns meanwhile.
		if err := unix.Unmount(RunNetnsDir, 0); err != nil {
			return false, fmt.Errorf("unmounting %s: %w", RunNetnsDir, err)
		}
	}
	if !existed {
		if err := unix.Rmdir(RunNetnsDir); err != nil && !errors.Is(err, unix.ENOENT) {
			return false, fmt.Errorf("removing %s: %w", RunNetnsDir, err)
		}
	}
	return true, nil
}
