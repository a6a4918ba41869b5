package namespace

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// UnsupportedError is what a Have* probe, and any operation that needs a
// feature this kernel lacks, returns: errors.As gives the feature and the
// first kernel that has it. It matches ErrNotSupported. The type is shared
// by every confine package.
type UnsupportedError = internal.UnsupportedError

// kindMinKernel is the first kernel with setns(2) support for each kind.
var kindMinKernel = map[Kind]string{
	NET: "3.0", IPC: "3.0", UTS: "3.0", MNT: "3.8", PID: "3.8", USER: "3.8", CGROUP: "4.6", TIME: "5.6",
}

var (
	haveCloneIntoCgroup = internal.VersionProbe("clone3 CLONE_INTO_CGROUP", "5.7")
	haveCloseRange      = internal.SyscallProbe("close_range CLOSE_RANGE_CLOEXEC", "5.11", true, func() error {
		// An empty range: nothing is closed or marked, but an unknown
		// flag is refused with EINVAL (5.9, 5.10).
		return unix.CloseRange(^uint(0), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	})
)

// HaveKind reports whether the kernel has namespaces of kind k that can be
// created and joined: nil, an *InvalidError for an unknown kind, or an
// *UnsupportedError.
func HaveKind(k Kind) error {
	if !k.Valid() {
		return &InvalidError{Pkg: "namespace", Field: "Kind", Value: k.String(), Reason: "unknown namespace kind"}
	}
	if _, err := os.Stat("/proc/self/ns/" + k.ProcName()); err != nil {
		return &UnsupportedError{Feature: k.String() + " namespaces", MinKernel: kindMinKernel[k], Err: err}
	}
	return nil
}

// HaveSpawn reports whether the kernel has what Cmd.Start always needs:
// close_range with CLOSE_RANGE_CLOEXEC (Linux 5.11), so the init can mark
// every inherited fd close-on-exec in one call.
func HaveSpawn() error { return haveCloseRange() }

// HaveCloneIntoCgroup reports whether a Cmd with CgroupFD or CgroupPath can
// be born in its cgroup (clone3 CLONE_INTO_CGROUP, Linux 5.7).
func HaveCloneIntoCgroup() error { return haveCloneIntoCgroup() }
