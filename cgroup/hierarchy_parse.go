package cgroup

import (
	"bytes"
	"strconv"
	"strings"
)

// mountTable is what hierarchy detection needs from /proc/self/mountinfo.
type mountTable struct {
	// unified lists cgroup2 mount points in mountinfo order.
	unified []string
	// v1 maps each controller attached to a mounted cgroup v1 hierarchy to
	// its mount point (the first one seen).
	v1 map[string]string
}

// parseMountinfo extracts cgroup mounts from mountinfo text (proc(5)).
// Malformed lines are skipped: the file comes from the kernel, and one odd
// line must not hide the rest.
func parseMountinfo(data []byte) mountTable {
	t := mountTable{v1: map[string]string{}}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		pre, post, ok := bytes.Cut(line, []byte(" - "))
		if !ok {
			continue
		}
		pf := bytes.Fields(pre)
		qf := bytes.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		mnt := unescapeMount(string(pf[4]))
		switch string(qf[0]) {
		case "cgroup2":
			t.unified = append(t.unified, mnt)
		case "cgroup":
			for _, opt := range strings.Split(string(qf[2]), ",") {
				if !isV1Controller(opt) {
					continue
				}
				if _, seen := t.v1[opt]; !seen {
					t.v1[opt] = mnt
				}
			}
		}
	}
	return t
}

// isV1Controller tells controller names apart from ordinary mount options
// in a v1 cgroup mount's super options.
func isV1Controller(opt string) bool {
	switch opt {
	case "", "rw", "ro", "noprefix", "xattr", "clone_children", "cpuset_v2_mode", "favordynmods":
		return false
	}
	return !strings.ContainsRune(opt, '=')
}

// unescapeMount undoes the octal escapes (\040 for space, ...) the kernel
// uses in mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseProcCgroups returns the controllers /proc/cgroups lists as enabled
// and attached to a v1 hierarchy (hierarchy id != 0).
func parseProcCgroups(data []byte) map[string]bool {
	bound := map[string]bool{}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 4 {
			continue
		}
		if string(f[1]) != "0" && string(f[3]) == "1" {
			bound[string(f[0])] = true
		}
	}
	return bound
}
