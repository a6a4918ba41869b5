package internal

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Version is a kernel version: major, minor, patch.
type Version [3]int

// ParseVersion reads "6.1", "6.1.0" or a uname release like
// "6.1.0-28-cloud-amd64" (anything after the numeric prefix is ignored).
func ParseVersion(s string) (Version, error) {
	var v Version
	rest := s
	for i := 0; i < 3; i++ {
		end := 0
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		if end == 0 {
			if i >= 2 {
				break
			}
			return Version{}, fmt.Errorf("parsing kernel version %q: no number at component %d", s, i)
		}
		n, err := strconv.Atoi(rest[:end])
		if err != nil {
			return Version{}, fmt.Errorf("parsing kernel version %q: %w", s, err)
		}
		v[i] = n
		rest = rest[end:]
		if !strings.HasPrefix(rest, ".") {
			if i == 0 {
				return Version{}, fmt.Errorf("parsing kernel version %q: want MAJOR.MINOR", s)
			}
			break
		}
		rest = rest[1:]
	}
	return v, nil
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// KernelVersion returns the running kernel's version, read once from uname.
var KernelVersion = sync.OnceValues(func() (Version, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Version{}, fmt.Errorf("uname: %w", err)
	}
	return ParseVersion(unix.ByteSliceToString(u.Release[:]))
})
