package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The state directory: ROOT/ID/ holds state.json (written atomically),
// gate.sock while the container is created but not started, and is
// flocked by every command that changes the container.
const (
	stateFile = "state.json"
	gateFile  = "gate.sock"
)

// record is what survives the runtime process, in state.json.
type record struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	StartTime   uint64            `json:"pid_start_time"` // /proc/PID/stat field 22: tells a recycled pid
	Created     time.Time         `json:"created"`
	CgroupPath  string            `json:"cgroup_path"` // absolute
	Annotations map[string]string `json:"annotations,omitempty"`
	Hooks       specs.Hooks       `json:"hooks"`
}

// containerState is what `state` and `list --format json` print: the
// runtime-spec state plus runc's extra fields (rootfs, created, owner).
type containerState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

var idRE = regexp.MustCompile(`^[\w+\-.]+$`)

// checkID refuses ids that could name a path outside --root.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 1024 || !idRE.MatchString(id) {
		return &UsageError{Msg: fmt.Sprintf("invalid container id %q: letters, digits, '_', '+', '-' and '.' only", id)}
	}
	return nil
}

// stateDir is an open container directory, flocked when locked is true.
type stateDir struct {
	path string
	f    *os.File
}

// createDir makes ROOT/ID (0700) and locks it; the id must be new.
func createDir(root, id string) (*stateDir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("creating --root %s: %w", root, err)
	}
	p := filepath.Join(root, id)
	if err := os.Mkdir(p, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %s exists already", id)
		}
		return nil, err
	}
	return lockDir(p)
}

// openDir opens and locks an existing container's directory.
func openDir(root, id string) (*stateDir, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	p := filepath.Join(root, id)
	if _, err := os.Stat(filepath.Join(p, stateFile)); err != nil {
		return nil, fmt.Errorf("container %s does not exist", id)
	}
	return lockDir(p)
}

func lockDir(p string) (*stateDir, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return &stateDir{path: p, f: f}, nil
}

// Close unlocks.
func (d *stateDir) Close() {
	if d != nil && d.f != nil {
		d.f.Close()
		d.f = nil
	}
}

func (d *stateDir) gatePath() string { return filepath.Join(d.path, gateFile) }

func (d *stateDir) write(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(d.path, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.path, stateFile))
}

// readRecord reads ROOT/ID/state.json (at most 1 MiB) without locking.
func readRecord(dir string) (*record, error) {
	f, err := os.Open(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r record
	b := make([]byte, 1<<20+1)
	n, _ := f.Read(b)
	if n > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB", f.Name())
	}
	if err := json.Unmarshal(b[:n], &r); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return &r, nil
}

// status decides the container's state from the kernel, not from the
// file: its init alive (same pid and start time) in a frozen cgroup is
// paused (created or started, as runc: a created container can be paused
// too), else waiting at the gate created, past it running; anything else
// is stopped.
func (r *record) status(dir string) specs.ContainerState {
	if r.Pid <= 0 || !sameProcess(r.Pid, r.StartTime) {
		return specs.StateStopped
	}
	if frozen(r.CgroupPath) {
		return statePaused
	}
	if _, err := os.Lstat(filepath.Join(dir, gateFile)); err == nil {
		return specs.StateCreated
	}
	return specs.StateRunning
}

// statePaused is runc's status for a frozen container (runtime-spec has
// no word for it).
const statePaused specs.ContainerState = "paused"

func frozen(cg string) bool {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.freeze"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func (r *record) state(dir string) containerState {
	st := r.status(dir)
	cs := containerState{
		State: specs.State{Version: specs.Version, ID: r.ID, Status: st, Bundle: r.Bundle,
			Annotations: r.Annotations},
		Rootfs: r.Rootfs, Created: r.Created, Owner: "root",
	}
	if st != specs.StateStopped {
		cs.Pid = r.Pid
	}
	return cs
}

// startTime reads field 22 (starttime) of /proc/PID/stat; 0 when the
// process is gone or a zombie.
func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// comm (field 2) may hold spaces and parentheses: fields count from
	// the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

func sameProcess(pid int, start uint64) bool {
	return start != 0 && startTime(pid) == start
}

// openPidfd opens a pidfd for the container's init and checks, after
// opening, that it is still the same process (not a recycled pid).
func openPidfd(r *record) (int, error) {
	fd, err := unix.PidfdOpen(r.Pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open(%d): %w", r.Pid, err)
	}
	if !sameProcess(r.Pid, r.StartTime) {
		unix.Close(fd)
		return -1, fmt.Errorf("container %s: process %d: %w", r.ID, r.Pid, unix.ESRCH)
	}
	return fd, nil
}

// waitExit waits until the process behind pidfd has exited.
func waitExit(pidfd int, timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}
