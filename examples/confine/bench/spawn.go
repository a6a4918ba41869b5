package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/confinelab/confine/internal/busyboxroot"
)

// busyboxRoot builds the read-only root every runtime gets: static
// busybox and its applets.
func busyboxRoot() (string, func(), error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", nil, fmt.Errorf("busybox (Debian busybox-static) is needed for the root filesystem: %w", err)
	}
	dir, err := os.MkdirTemp("", "confine-bench-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	root := filepath.Join(dir, "rootfs")
	if err := busyboxroot.Build(bb, root, []string{"proc", "sys", "dev", "tmp", "etc"}, []string{"sh", "true", "sleep"}); err != nil {
		cleanup()
		return "", nil, err
	}
	return root, cleanup, nil
}

// spawnRows times starting `true` under each runtime.
func spawnRows(confine, root string, n int) ([]row, error) {
	type candidate struct {
		name, note string
		args       []string
		prepare    func() ([]string, func(), error)
	}
	cands := []candidate{
		{name: "spawn: fork+exec `true` (baseline)", args: []string{filepath.Join(root, "bin", "true")}},
		{name: "spawn: `confine run`", note: "PID, NET (lo up), IPC, MNT, UTS; read-only busybox root with /proc, /sys, /dev, masked paths; default seccomp; own cgroup",
			args: []string{confine, "run", "--rootfs", root, "--read-only", "true"}},
		{name: "spawn: `unshare -pfnimu --mount-proc`", note: "same namespaces, host root, no seccomp, no cgroup",
			args: []string{"unshare", "-pfnimu", "--mount-proc", "true"}},
		{name: "spawn: `bwrap --unshare-all --ro-bind ROOT /`", note: "user, PID, NET, IPC, MNT, UTS, cgroup namespaces; no seccomp, no cgroup",
			args: []string{"bwrap", "--unshare-all", "--ro-bind", root, "/", "/bin/true"}},
		{name: "spawn: `runc run`", note: "runc's default spec, read-only busybox root (cgroup v1 on this host)",
			prepare: func() ([]string, func(), error) { return runcBundle(root) }},
	}
	var rows []row
	for _, c := range cands {
		args := c.args
		cleanup := func() {}
		if c.prepare != nil {
			if _, err := exec.LookPath("runc"); err != nil {
				rows = append(rows, row{c.name, "n/a", "runc not installed"})
				continue
			}
			var err error
			if args, cleanup, err = c.prepare(); err != nil {
				rows = append(rows, row{c.name, "n/a", "setup failed: " + err.Error()})
				continue
			}
		}
		if _, err := exec.LookPath(args[0]); err != nil {
			rows = append(rows, row{c.name, "n/a", args[0] + " not installed"})
			continue
		}
		i := 0
		d, err := median(n, func() error {
			i++
			a := append([]string(nil), args...)
			for j := range a {
				a[j] = strings.ReplaceAll(a[j], "@N", fmt.Sprint(i))
			}
			out, err := exec.Command(a[0], a[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", c.name, err, out)
			}
			return nil
		})
		cleanup()
		if err != nil {
			rows = append(rows, row{c.name, "failed", strings.ReplaceAll(err.Error(), "\n", " ")})
			continue
		}
		rows = append(rows, row{c.name, fmtDur(d), c.note})
	}
	return rows, nil
}

// runcBundle writes an OCI bundle for `true` on the busybox root.
func runcBundle(root string) ([]string, func(), error) {
	dir, err := os.MkdirTemp("", "confine-bench-runc-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	if out, err := exec.Command("runc", "spec", "--bundle", dir).CombinedOutput(); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		cleanup()
		return nil, nil, err
	}
	cfg["root"] = map[string]any{"path": root, "readonly": true}
	proc := cfg["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	if data, err = json.Marshal(cfg); err == nil {
		err = os.WriteFile(cfgPath, data, 0o644)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return []string{"runc", "run", "--bundle", dir, "confine-bench-@N"}, cleanup, nil
}
