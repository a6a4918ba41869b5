package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
)

// Cgroup is one cgroup v2 directory in the unified hierarchy, held open by
// an O_PATH directory fd. Methods are safe for concurrent use except that
// Close and Delete end the value's life.
type Cgroup struct {
	path string // absolute path of the cgroup directory
	h    *Hierarchy
	// boundary is the delegation boundary: the deepest ancestor that
	// existed before this package touched the tree (New), or the parent
	// (Open). Controllers are enabled in boundary's and its descendants'
	// cgroup.subtree_control, never above it.
	boundary string

	mu  sync.Mutex // guards fd and buf
	fd  int        // O_PATH|O_DIRECTORY|O_CLOEXEC, -1 once closed
	buf []byte     // read buffer reused by Stats
	// huge holds hugetlb file names, built at first use by Stats.
	huge []hugeFiles

	// attached is set once this value applied Devices or Network: Delete
	// must then look for programs and pins (see mayHavePrograms).
	attached atomic.Bool

	// writeHook, when set (tests only), runs before each control-file
	// write, once the file is open, with the file's full path, and can
	// fail it, to exercise rollback.
	writeHook func(path, value string) error
}

// Path returns the cgroup's absolute directory path.
func (c *Cgroup) Path() string { return c.path }

// New creates the cgroup at path (relative to the unified root, or
// absolute inside it), with any missing parents, and applies r. The
// deepest existing ancestor is the delegation boundary: it must offer the
// controllers r needs, and nothing above it is written. r is validated and
// the controllers checked before any directory is made; if applying fails,
// the directories New made are removed again. It fails with an error
// matching os.ErrExist if path exists already (use Open and Apply).
func New(path string, r Resources) (*Cgroup, error) {
	h, err := Detect()
	if err != nil {
		return nil, err
	}
	return newIn(h, path, r)
}

// Open opens an existing cgroup. Its parent is taken as the delegation
// boundary for later Apply calls.
func Open(path string) (*Cgroup, error) {
	h, err := Detect()
	if err != nil {
		return nil, err
	}
	return openIn(h, path)
}

// Resolve returns the absolute directory New and Open take path to mean
// (relative to the unified root, or absolute inside it), without touching
// it: for callers that record a cgroup before making it.
func Resolve(path string) (string, error) {
	h, err := Detect()
	if err != nil {
		return "", err
	}
	return h.resolve(path)
}

func openIn(h *Hierarchy, path string) (*Cgroup, error) {
	p, err := h.resolve(path)
	if err != nil {
		return nil, err
	}
	b := filepath.Dir(p)
	if p == h.Root {
		b = p
	}
	return openAt(h, p, b)
}

func openAt(h *Hierarchy, p, boundary string) (*Cgroup, error) {
	fd, err := openat(unix.AT_FDCWD, p, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, internal.Errorf("opening cgroup", &os.PathError{Op: "open", Path: p, Err: err})
	}
	return &Cgroup{path: p, h: h, boundary: boundary, fd: fd}, nil
}

func newIn(h *Hierarchy, path string, r Resources) (*Cgroup, error) {
	p, err := h.resolve(path)
	if err != nil {
		return nil, err
	}
	if p == h.Root {
		return nil, invalid("path", path, "the root cgroup cannot be created")
	}
	ws, err := r.plan(h)
	if err != nil {
		return nil, err
	}
	var buf [8]string
	if err := h.checkControllers(neededControllers(ws, buf[:0])); err != nil {
		return nil, err
	}
	top, err := mkdirAll(p)
	if err != nil {
		return nil, err
	}
	c, err := openAt(h, p, filepath.Dir(top))
	if err != nil {
		removeMade(p, top)
		return nil, err
	}
	if err := c.apply(&r, ws, true); err != nil {
		c.Close()
		removeMade(p, top)
		return nil, err
	}
	return c, nil
}

// mkdirAll makes the directory p and its missing parents, top-down, and
// returns top, the highest directory it made: top's parent is the deepest
// ancestor that existed before, the delegation boundary. The common case,
// an existing parent, costs one mkdir. It fails with an error matching
// os.ErrExist if p exists.
func mkdirAll(p string) (top string, err error) {
	err = mkdir(p, 0o755)
	if err == nil {
		return p, nil
	}
	if err != unix.ENOENT {
		return "", internal.Errorf("creating cgroup", &os.PathError{Op: "mkdir", Path: p, Err: err})
	}
	top = p
	for {
		parent := filepath.Dir(top)
		if parent == top || existsAt(unix.AT_FDCWD, parent) {
			break
		}
		top = parent
	}
	for d := top; ; d = nextDown(d, p) {
		if err := mkdir(d, 0o755); err != nil {
			if d != top {
				removeMade(filepath.Dir(d), top)
			}
			return "", internal.Errorf("creating cgroup", &os.PathError{Op: "mkdir", Path: d, Err: err})
		}
		if d == p {
			return top, nil
		}
	}
}

// nextDown returns the child of d on the way down to p (d is an ancestor
// of p).
func nextDown(d, p string) string {
	i := strings.IndexByte(p[len(d)+1:], '/')
	if i < 0 {
		return p
	}
	return p[:len(d)+1+i]
}

// removeMade removes the directories from p up to top, deepest first: what
// mkdirAll made, when New fails after it.
func removeMade(p, top string) {
	for d := p; ; d = filepath.Dir(d) {
		_ = rmdir(d)
		if d == top || d == "/" {
			return
		}
	}
}

// FD returns the cgroup's O_PATH directory fd, e.g. for clone3's
// CLONE_INTO_CGROUP. It stays owned by c (valid until Close); -1 after Close.
func (c *Cgroup) FD() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fd
}

// Close releases the directory fd. It does not remove the cgroup. It is
// nil-safe and idempotent.
func (c *Cgroup) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// AddProcess moves the process pid (0 means the caller), all its threads,
// into the cgroup. Where the topology forbids it (an invalid domain, see
// the kernel's cgroup-v2 "threaded" rules) the error matches
// ErrNotSupported and wraps EOPNOTSUPP.
func (c *Cgroup) AddProcess(pid int) error {
	if pid < 0 {
		return invalid("pid", pid, "must be >= 0")
	}
	err := c.writeFile("cgroup.procs", itoa(uint64(pid)))
	if errors.Is(err, unix.EOPNOTSUPP) {
		return &internal.UnsupportedError{Feature: "moving a process into " + c.path,
			Reason: "the cgroup's type does not allow processes (threaded topology)", Err: err}
	}
	if errors.Is(err, unix.EBUSY) {
		return internal.Errorf("adding process (no internal processes: the cgroup has controllers enabled for children)", err)
	}
	return err
}

// Processes lists the PIDs in the cgroup itself (not its descendants).
// The kernel does not list processes of a threaded cgroup (only its
// threaded domain does); that error matches ErrNotSupported and wraps
// EOPNOTSUPP: use Threads.
func (c *Cgroup) Processes() ([]int, error) {
	ids, err := c.readIDs("cgroup.procs")
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil, &internal.UnsupportedError{Feature: "listing processes of a threaded cgroup",
			Reason: c.path + " is threaded; use Threads", Err: err}
	}
	return ids, err
}

func (c *Cgroup) readIDs(file string) ([]int, error) {
	b, err := c.readFile(file)
	if err != nil {
		return nil, err
	}
	return parseIDs(b, filepath.Join(c.path, file))
}

// parseIDs parses a cgroup.procs or cgroup.threads file read from path.
func parseIDs(b []byte, path string) ([]int, error) {
	var ids []int
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fileError("parse", path, "", err)
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// SetThreaded turns the cgroup into a threaded cgroup (cgroup.type), so
// threads of one process can be spread over its threaded children.
func (c *Cgroup) SetThreaded() error {
	return c.writeFile("cgroup.type", "threaded")
}

// AddThread moves one thread (a TID) into the cgroup (cgroup.threads).
func (c *Cgroup) AddThread(tid int) error {
	if tid < 0 {
		return invalid("tid", tid, "must be >= 0")
	}
	return c.writeFile("cgroup.threads", itoa(uint64(tid)))
}

// Threads lists the thread IDs in the cgroup itself.
func (c *Cgroup) Threads() ([]int, error) {
	return c.readIDs("cgroup.threads")
}

// MoveProcessesToLeaf creates the child cgroup name and moves every
// process of c into it. It serves the no-internal-process rule: a cgroup
// must hold no processes of its own before controllers can be enabled for
// its children, so a caller living in c (e.g. a manager in its own
// delegated cgroup) moves itself and its peers down first. The child is
// returned open; the caller owns it.
func (c *Cgroup) MoveProcessesToLeaf(name string) (*Cgroup, error) {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return nil, invalid("name", name, "must be a single path element")
	}
	p := filepath.Join(c.path, name)
	if err := unix.Mkdir(p, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, internal.Errorf("creating leaf cgroup", &os.PathError{Op: "mkdir", Path: p, Err: err})
	}
	leaf, err := openAt(c.h, p, c.path)
	if err != nil {
		return nil, err
	}
	leaf.writeHook = c.writeHook
	// Processes may fork while being moved; repeat until none is left.
	for range 100 {
		pids, err := c.Processes()
		if err != nil {
			leaf.Close()
			return nil, err
		}
		if len(pids) == 0 {
			return leaf, nil
		}
		for _, pid := range pids {
			if err := leaf.AddProcess(pid); err != nil && !errors.Is(err, unix.ESRCH) {
				leaf.Close()
				return nil, err
			}
		}
	}
	leaf.Close()
	return nil, internal.Errorf("moving processes to leaf", unix.EAGAIN)
}

// hasController reports whether a whitespace-separated controller list
// contains name.
func hasController(list []byte, name string) bool {
	return slices.Contains(strings.Fields(string(list)), name)
}
