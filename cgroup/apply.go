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
// When several files are to be written, their old values are read first;
// a single write needs no snapshot, since if the kernel refuses it nothing
// changed. A control file that is missing because its controller is not
// enabled for the cgroup yet makes Apply enable the needed controllers
// top-down from the delegation boundary and try again, before anything
// else is written. If the kernel refuses a write midway, the files already
// written get their previous values back and controllers this call
// enabled are disabled again, so the cgroup is left as it was; the
// returned error is the kernel's refusal (a *StepError keeping the errno).
func (c *Cgroup) Apply(r Resources) error {
	ws, err := r.plan(c.h)
	if err != nil {
		return err
	}
	return c.apply(&r, ws, false)
}

// snapshot is a file's content before this Apply wrote it.
type snapshot struct {
	file, value string
}

// apply writes a validated plan. fresh says New has just made c: it holds
// no values worth restoring (a failing New removes it), so nothing is read
// before writing.
func (c *Cgroup) apply(r *Resources, ws []write, fresh bool) error {
	var buf [8]string
	a := applier{c: c, need: neededControllers(ws, buf[:0])}
	if err := c.h.checkControllers(a.need); err != nil {
		return err
	}
	snap := !fresh && (len(ws) > 1 || r.Devices != nil || r.Network != nil)
	var olds []string
	if snap {
		var err error
		if olds, err = a.oldValues(ws); err != nil {
			a.rollback()
			return err
		}
		a.done = make([]snapshot, 0, len(ws))
	}
	for i, w := range ws {
		if err := a.write(w); err != nil {
			a.rollback()
			return err
		}
		if snap {
			a.done = append(a.done, snapshot{w.file, olds[i]})
		}
	}
	if r.Devices != nil || r.Network != nil {
		c.attached.Store(true) // Delete must look for programs and pins
	}
	if r.Devices != nil {
		if err := c.applyDevices(r.Devices); err != nil {
			a.rollback()
			return internal.Errorf("applying device rules", err)
		}
	}
	if r.Network != nil {
		if err := c.applyNetwork(r.Network); err != nil {
			a.rollback()
			return internal.Errorf("applying network limits", err)
		}
	}
	return nil
}

// applier is the state of one apply: what it enabled and wrote, for undo.
type applier struct {
	c       *Cgroup
	need    []string   // controllers the plan writes to
	tried   bool       // enableControllers ran
	enabled []enabled  // "+ctrl" writes this call made
	done    []snapshot // files written, with the values to restore
}

// enableOnMissing handles err from touching a control file: when the file
// is missing (ENOENT), most likely because a needed controller is not
// enabled for the cgroup yet, it enables the controllers, once per call,
// and reports whether that changed anything worth a retry.
func (a *applier) enableOnMissing(err error) (bool, error) {
	if a.tried || !errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	a.tried = true
	en, eerr := a.c.enableControllers(a.need)
	if eerr != nil {
		return false, eerr
	}
	a.enabled = en
	return len(en) > 0, nil
}

// oldValues reads what each write must restore, all before the first
// write: a missing file is found while nothing has changed yet.
func (a *applier) oldValues(ws []write) ([]string, error) {
	olds := make([]string, len(ws))
	for i := 0; i < len(ws); i++ {
		v, err := a.c.oldValue(ws[i])
		if err != nil {
			retry, eerr := a.enableOnMissing(err)
			if eerr != nil {
				return nil, eerr
			}
			if retry {
				i--
				continue
			}
			return nil, err
		}
		olds[i] = v
	}
	return olds, nil
}

// write makes one planned write, enabling controllers first if its file
// is missing.
func (a *applier) write(w write) error {
	err := a.c.writeFile(w.file, w.value)
	if err == nil {
		return nil
	}
	retry, eerr := a.enableOnMissing(err)
	if eerr != nil {
		return eerr
	}
	if !retry {
		return err
	}
	return a.c.writeFile(w.file, w.value)
}

// rollback restores the files written, then disables the controllers
// enabled, bottom-up; best effort, on a path already returning an error.
func (a *applier) rollback() {
	for i := len(a.done) - 1; i >= 0; i-- {
		_ = a.c.writeFile(a.done[i].file, a.done[i].value)
	}
	a.c.disableControllers(a.enabled)
}

// oldValue reads what a write must restore. Keyed files (io.max,
// io.weight, ...: keyedFiles) keep one line per key: the old line for the
// write's key, or the file's reset line when the key had none.
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
		return w.dev + " " + keyedFiles[w.file], nil
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
		return nil, fileError("read", path, "", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, fileError("read", path, "", err)
	}
	return buf[:n], nil
}
