package cgroup

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// Apply validates every field of r, then writes the limits it names.
// Nothing is written when validation fails (a *InvalidError) or when a
// needed controller is unavailable (a *V1BoundError or *ControllerError).
// Controllers are enabled top-down from the delegation boundary. If the
// kernel refuses a write midway, the files already written get their
// previous values back and controllers this call enabled are disabled
// again, so the cgroup is left as it was; the returned error is the
// kernel's refusal (a *FileError keeping the errno).
func (c *Cgroup) Apply(r Resources) error {
	ws, err := r.plan(c.h)
	if err != nil {
		return err
	}
	return c.apply(&r, ws)
}

// snapshot is a file's content before this Apply wrote it.
type snapshot struct {
	file, value string
}

func (c *Cgroup) apply(r *Resources, ws []write) error {
	need := neededControllers(ws)
	if err := c.h.checkControllers(need); err != nil {
		return err
	}
	enabled, err := c.enableControllers(need)
	if err != nil {
		return err
	}
	var done []snapshot
	rollback := func() {
		for i := len(done) - 1; i >= 0; i-- {
			_ = c.writeFile(done[i].file, done[i].value)
		}
		c.disableControllers(enabled)
	}
	// Read every old value before the first write: a missing file is found
	// while nothing has changed yet.
	olds := make([]string, len(ws))
	for i, w := range ws {
		if olds[i], err = c.oldValue(w); err != nil {
			c.disableControllers(enabled)
			return err
		}
	}
	for i, w := range ws {
		if err := c.writeFile(w.file, w.value); err != nil {
			rollback()
			return err
		}
		done = append(done, snapshot{w.file, olds[i]})
	}
	if r.Devices != nil {
		if err := c.applyDevices(r.Devices); err != nil {
			rollback()
			return internal.Errorf("applying device rules", err)
		}
	}
	if r.Network != nil {
		if err := c.applyNetwork(r.Network); err != nil {
			rollback()
			return internal.Errorf("applying network limits", err)
		}
	}
	return nil
}

// oldValue reads what a write must restore. Per-device files keep one line
// per device: the old line for that device, or all-"max" when absent.
func (c *Cgroup) oldValue(w write) (string, error) {
	b, err := c.readFile(w.file)
	if err != nil {
		return "", err
	}
	if w.dev != "" {
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			if bytes.HasPrefix(line, []byte(w.dev+" ")) {
				return string(line), nil
			}
		}
		return w.dev + " rbps=max wbps=max riops=max wiops=max", nil
	}
	if w.file == "io.weight" {
		line, _, _ := bytes.Cut(b, []byte{'\n'})
		return string(line), nil
	}
	return string(bytes.TrimSpace(b)), nil
}

// enabled records one "+ctrl" write into a subtree_control, for undo.
type enabled struct {
	dir, ctrl string
}

// ancestors lists the directories from the delegation boundary down to
// c's parent: the cgroups whose subtree_control must enable a controller
// for c to get its files.
func (c *Cgroup) ancestors() []string {
	var dirs []string
	for d := filepath.Dir(c.path); ; d = filepath.Dir(d) {
		if len(d) < len(c.boundary) {
			break
		}
		dirs = append(dirs, d)
		if d == c.boundary || d == "/" {
			break
		}
	}
	// Top-down: a controller must be enabled in the parent first.
	for i, j := 0, len(dirs)-1; i < j; i, j = i+1, j-1 {
		dirs[i], dirs[j] = dirs[j], dirs[i]
	}
	return dirs
}

func (c *Cgroup) enableControllers(need []string) ([]enabled, error) {
	if len(need) == 0 || c.path == c.h.Root {
		return nil, nil
	}
	var done []enabled
	for _, d := range c.ancestors() {
		sub, err := readPath(filepath.Join(d, "cgroup.subtree_control"))
		if err != nil {
			c.disableControllers(done)
			return nil, err
		}
		var add []string
		for _, ctl := range need {
			if !hasController(sub, ctl) {
				add = append(add, ctl)
			}
		}
		if len(add) == 0 {
			continue
		}
		if err := checkOffered(d, add); err != nil {
			c.disableControllers(done)
			return nil, err
		}
		if err := c.writePath(filepath.Join(d, "cgroup.subtree_control"), "+"+strings.Join(add, " +")); err != nil {
			c.disableControllers(done)
			if errors.Is(err, unix.EOPNOTSUPP) {
				return nil, &ControllerError{Controller: strings.Join(add, ","), Path: d,
					Reason: "not allowed here (a threaded subtree takes only threaded controllers: cpu, cpuset, pids, perf_event)", Err: err}
			}
			if errors.Is(err, unix.EBUSY) {
				return nil, &ControllerError{Controller: strings.Join(add, ","), Path: d,
					Reason: "cannot enable for children while the cgroup holds processes (no-internal-process rule; see MoveProcessesToLeaf)", Err: err}
			}
			return nil, err
		}
		for _, ctl := range add {
			done = append(done, enabled{d, ctl})
		}
	}
	return done, nil
}

// checkOffered makes sure dir's cgroup.controllers offers every controller
// in add; at the boundary this is the delegation check.
func checkOffered(dir string, add []string) error {
	have, err := readPath(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	for _, ctl := range add {
		if !hasController(have, ctl) {
			return &ControllerError{Controller: ctl, Path: dir,
				Reason: "not delegated here (missing from cgroup.controllers)"}
		}
	}
	return nil
}

// disableControllers undoes enableControllers bottom-up, best effort: it
// runs only on a path that is already returning an error.
func (c *Cgroup) disableControllers(done []enabled) {
	for i := len(done) - 1; i >= 0; i-- {
		_ = c.writePath(filepath.Join(done[i].dir, "cgroup.subtree_control"), "-"+done[i].ctrl)
	}
}

func readPath(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &FileError{Op: "read", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, &FileError{Op: "read", Path: path, Err: err}
	}
	return buf[:n], nil
}
