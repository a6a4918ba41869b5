package namespace

import (
	"bufio"
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cgroupRef is the cgroup the command is born into: an fd for clone3
// CLONE_INTO_CGROUP, owned (opened from a path) or borrowed.
type cgroupRef struct {
	fd  int
	own bool
}

func openCgroup(fd int, path string) (cgroupRef, error) {
	if path == "" {
		return cgroupRef{fd: fd}, nil
	}
	nfd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return cgroupRef{}, &os.PathError{Op: "namespace: opening cgroup", Path: path, Err: err}
	}
	return cgroupRef{fd: nfd, own: true}, nil
}

// addProcess moves the process pid into the cgroup (cgroup.procs).
func (r *cgroupRef) addProcess(pid int) error {
	fd, err := unix.Openat(r.fd, "cgroup.procs", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "namespace: opening cgroup.procs", Path: "cgroup.procs", Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(strconv.Itoa(pid))); err != nil {
		return &os.PathError{Op: "namespace: moving the init into its cgroup", Path: "cgroup.procs", Err: err}
	}
	return nil
}

func (r *cgroupRef) close() {
	if r.own && r.fd > 0 {
		unix.Close(r.fd)
	}
	r.fd, r.own = 0, false
}

// oomKills returns the oom_kill counter of the cgroup's memory.events, or
// -1 without a cgroup or memory controller.
func (r *cgroupRef) oomKills() int64 {
	if r.fd <= 0 {
		return -1
	}
	fd, err := unix.Openat(r.fd, "memory.events", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	f := os.NewFile(uintptr(fd), "memory.events")
	defer f.Close()
	var buf [512]byte
	n, _ := f.Read(buf[:])
	return parseOOMKills(buf[:n])
}

// parseOOMKills finds "oom_kill N" in memory.events content, or -1.
func parseOOMKills(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if ok && string(k) == "oom_kill" {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
