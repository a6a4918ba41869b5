package cgroup

import (
	"slices"
	"strconv"
	"strings"
)

// The decisions behind Resources.Unified follow runc (v1.1/v1.2,
// libcontainer/cgroups/fs2/fs2.go setUnified; the systemd driver's
// unifiedResToSystemdProps; libcontainer/configs/validate cgroupsCheck)
// and the runtime-spec's "unified" section. Each is checked by a row of
// TestUnifiedDecisions, which names the runc behaviour it matches or the
// reason it differs.

// keyedFiles are the control files that hold one line per key (a
// device's MAJ:MIN, io.weight's "default", an rdma device or misc
// resource name): a write names one key and changes only its line. The
// value is what resets a key that had no line, for rollback.
var keyedFiles = map[string]string{
	"io.max":        "rbps=max wbps=max riops=max wiops=max",
	"io.weight":     "default",
	"io.bfq.weight": "default",
	"io.latency":    "target=max",
	"rdma.max":      "hca_handle=max hca_object=max",
	"misc.max":      "max",
}

// cgroupLimits are the cgroup core files ("cgroup.*") Unified may set:
// the ones that are settings. The others move processes (cgroup.procs,
// cgroup.threads), act (cgroup.kill, cgroup.freeze), change the tree's
// shape (cgroup.type, cgroup.subtree_control) or are read-only.
var cgroupLimits = []string{"cgroup.max.descendants", "cgroup.max.depth", "cgroup.pressure"}

// planUnified validates every entry of u, then drops the typed writes of
// files u sets and appends u's writes, key by key in sorted order: the
// kernel sees Unified's values last, as in runc.
func planUnified(ws []write, u map[string]string) ([]write, error) {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := checkUnified(k, u[k]); err != nil {
			return nil, err
		}
	}
	ws = slices.DeleteFunc(ws, func(w write) bool {
		v, ok := u[w.file]
		return ok && w.dev == "" && hasLine(v)
	})
	for _, k := range keys {
		ws = appendUnified(ws, k, u[k])
	}
	return ws, nil
}

// checkUnified validates one entry of Resources.Unified.
func checkUnified(key, value string) error {
	if _, reason := unifiedController(key); reason != "" {
		return invalid(unifiedField(key), value, reason)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return invalid(unifiedField(key), value, "contains a NUL byte: the kernel would ignore what follows it")
	}
	return nil
}

func unifiedField(key string) string { return "Unified[" + strconv.Quote(key) + "]" }

// unifiedController returns the controller a Unified key needs ("" for
// the cgroup core files), or why the key is refused.
func unifiedController(key string) (ctrl, reason string) {
	if strings.IndexByte(key, '/') >= 0 {
		return "", "key must be a file name (no slashes)"
	}
	ctrl, param, ok := strings.Cut(key, ".")
	if !ok || !validName(ctrl, false) || !validName(param, true) {
		return "", `key must be in the form CONTROLLER.PARAMETER (letters, digits, "_", "-", ".")`
	}
	if ctrl == "cgroup" {
		if !slices.Contains(cgroupLimits, key) {
			return "", "key is a cgroup core file that is not a limit: use the Cgroup methods " +
				"(AddProcess, Freeze, Kill, EnableControllers, SetThreaded); Unified takes " +
				strings.Join(cgroupLimits, ", ")
		}
		return "", ""
	}
	if param == "pressure" {
		return "", "key is a PSI file: a trigger written there lives only as long as the writer's " +
			"file descriptor, which Apply closes"
	}
	return ctrl, ""
}

// validName reports whether s is a non-empty controller name (lower-case
// letters, digits, '_') or, with param, a parameter name (letters,
// digits, '_', '-', '.', not starting or ending with '.').
func validName(s string, param bool) bool {
	if s == "" || (param && (s[0] == '.' || s[len(s)-1] == '.')) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		case param && (c >= 'A' && c <= 'Z' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// hasLine reports whether value has a non-empty line: an empty value, or
// one of newlines only, writes nothing.
func hasLine(value string) bool { return strings.Trim(value, "\n") != "" }

// appendUnified appends one write per non-empty line of a validated
// entry, as runc (v1.2) writes a multi-line value line by line: the
// kernel takes one device per write in io.max and its kin. A line of a
// keyed file names its key in its first field.
func appendUnified(ws []write, key, value string) []write {
	ctrl, _ := unifiedController(key)
	_, keyed := keyedFiles[key]
	for line := range strings.SplitSeq(value, "\n") {
		if line == "" {
			continue
		}
		w := write{ctrl: ctrl, file: key, value: line}
		if keyed {
			w.dev = firstField(line)
			if (key == "io.weight" || key == "io.bfq.weight") && !strings.Contains(w.dev, ":") {
				w.dev = "default" // "N" and "default N" both set the default
			}
		}
		ws = append(ws, w)
	}
	return ws
}

// firstField returns line's first space-separated field ("" if none).
func firstField(line string) string {
	line = strings.TrimLeft(line, " \t")
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		return line[:i]
	}
	return line
}
