package mount

import (
	"path/filepath"

	"github.com/moby/sys/mountinfo"
)

// Info describes one entry of the calling process's mount table.
type Info = mountinfo.Info

// Mounted reports whether path is a mount point in the caller's mount
// namespace.
func Mounted(path string) (bool, error) {
	return mountinfo.Mounted(path)
}

// MountsUnder lists the mounts at or below prefix (a clean absolute path)
// in the caller's mount namespace, in mount table order.
func MountsUnder(prefix string) ([]*Info, error) {
	return mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(prefix)))
}
