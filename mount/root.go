package mount

import (
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Root describes a private root filesystem. It is a plain value (JSON
// round-trippable) so it can cross into a re-executed init.
type Root struct {
	// Path is the root filesystem directory on the host; "" means the
	// host's root seen through the private mount namespace (no pivot).
	Path string
	// Readonly makes the root mount read-only after the mounts are made.
	// With a Path, only the root mount itself (Mounts such as tmpfs stay
	// writable). With Path "", the host's whole tree is made read-only
	// recursively in the private namespace first, then Mounts are applied
	// on top of it.
	Readonly bool
	// Mounts are applied in order, each target resolved inside the root.
	Mounts []Mount
	// MaskedPaths are hidden (see DefaultMaskedPaths); missing ones are
	// skipped.
	MaskedPaths []string
	// ReadonlyPaths are made read-only (see DefaultReadonlyPaths); missing
	// ones are skipped.
	ReadonlyPaths []string
	// Propagation is the propagation of the root: "rprivate" (the default
	// when "") or "rslave" (host mounts still propagate in, nothing
	// propagates out) are applied to the whole mount tree first.
	// "rshared" and "shared" make the tree rslave first, then, once the
	// root is built, the root mount (with rshared, every mount in it)
	// shared: a peer group of the sandbox's own, so mounts propagate
	// between the root and its copies inside the sandbox (binds, mount
	// namespaces it makes), never to the host. "runbindable" and
	// "unbindable" make the tree rprivate, then the root (and, with
	// runbindable, every mount in it) unbindable. "private" and "slave"
	// are rprivate and rslave.
	Propagation string
	// Devices are device nodes made in the root's /dev after Mounts (so
	// in the minimal /dev when Mounts has one), before MaskedPaths. With
	// Path "" they need a /dev among Mounts: the host's own /dev is never
	// written.
	Devices []DeviceNode
}

// Validate checks r without touching the kernel (it may stat r.Path).
// Setup calls it first.
func (r *Root) Validate() error {
	_, err := r.validate()
	return err
}

func (r *Root) validate() ([]parsedOptions, error) {
	if r.Path != "" {
		if err := checkPath("Path", r.Path); err != nil {
			return nil, err
		}
		if fi, err := os.Stat(r.Path); err != nil || !fi.IsDir() {
			return nil, &InvalidError{Pkg: "mount", Field: "Path", Value: r.Path, Reason: "not an existing directory"}
		}
	}
	if _, ok := rootPropagations[r.Propagation]; !ok {
		return nil, &InvalidError{Pkg: "mount", Field: "Propagation", Value: r.Propagation,
			Reason: "must be rprivate, rslave, rshared, runbindable or one of them without the r"}
	}
	opts := make([]parsedOptions, len(r.Mounts))
	for i := range r.Mounts {
		po, err := r.Mounts[i].validate(i)
		if err != nil {
			return nil, err
		}
		opts[i] = po
	}
	for i, p := range r.MaskedPaths {
		if err := checkPath(fmt.Sprintf("MaskedPaths[%d]", i), p); err != nil {
			return nil, err
		}
	}
	for i, p := range r.ReadonlyPaths {
		if err := checkPath(fmt.Sprintf("ReadonlyPaths[%d]", i), p); err != nil {
			return nil, err
		}
	}
	if err := r.validateDevices(); err != nil {
		return nil, err
	}
	return opts, nil
}

// beforePivot, when set by tests, runs after all mounts and before the
// pivot, while the host's tree is still visible.
var beforePivot func() error

// Setup builds the root and, when Path is set, pivots into it.
//
// It expects to run in a fresh mount namespace that nothing else uses (as
// namespace's init does right after clone/unshare(CLONE_NEWNS)), with
// CAP_SYS_ADMIN over it, on a locked OS thread; the current directory does
// not matter. On success the calling process sees the new root as "/",
// the old root is detached (gone from /proc/self/mountinfo) and the working
// directory is "/". On failure it returns a *StepError naming the step and
// path (or a *InvalidError for invalid input, before anything is mounted);
// the mount namespace is then half-built and must be thrown away, which
// is what exiting the init does. It needs Linux 5.2 (5.12 for read-only
// mounts); older kernels get an error matching ErrNotSupported.
func (r *Root) Setup() error {
	opts, err := r.validate()
	if err != nil {
		return err
	}
	// Mounts and pivot_root act on the whole process's mount namespace,
	// but chdir must happen on the thread that later execs.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := &setup{r: r, root: -1}
	defer s.close()
	return s.run(opts)
}

type setup struct {
	r     *Root
	root  int         // O_PATH fd of the new root
	trees map[int]int // index in r.Mounts -> detached clone of a bind's Source
	fresh []string    // targets of the tmpfs and /dev mounts made so far
	props []propFix   // mounts with a propagation option, in order
}

// propFix is a mount's own propagation, kept to apply again after a
// recursive root propagation (rshared, runbindable) went over it.
type propFix struct {
	fd   int // refers to the mount
	prop uint64
	rec  bool
}

// propagate gives the mount fd refers to its propagation option, if any,
// and remembers it.
func (s *setup) propagate(fd int, po parsedOptions) error {
	if po.propagation == 0 {
		return nil
	}
	if err := setPropagation(fd, po.propagation, po.propRec); err != nil {
		return err
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	s.props = append(s.props, propFix{dup, po.propagation, po.propRec})
	return nil
}

// mayCreate reports whether a missing target may be created: always in a
// rootfs; on the host's root (Path "") only inside a tmpfs or /dev this
// Setup mounted, never on the host's own filesystem.
func (s *setup) mayCreate(target string) bool {
	if s.r.Path != "" {
		return true
	}
	t := path.Clean(target)
	for _, f := range s.fresh {
		if strings.HasPrefix(t, f+"/") {
			return true
		}
	}
	return false
}

func (s *setup) close() {
	if s.root >= 0 {
		unix.Close(s.root)
		s.root = -1
	}
	for i, fd := range s.trees {
		unix.Close(fd)
		delete(s.trees, i)
	}
	for _, p := range s.props {
		unix.Close(p.fd)
	}
	s.props = nil
}

// cloneSources makes a detached copy of every bind's Source first, when
// the Root is the host's tree (Path ""), before any of its mounts (a tmpfs
// on /tmp, the read-only host root) changes what a host path names or the
// flags a copy inherits. With a Path the Root's mounts only change paths
// inside it, and each source is cloned as its bind is made (apply): mounts
// are made, and numbered, in order, as OCI configs expect.
func (s *setup) cloneSources(opts []parsedOptions) error {
	s.trees = map[int]int{}
	if s.r.Path != "" {
		return nil
	}
	for i := range s.r.Mounts {
		m := &s.r.Mounts[i]
		if m.Type != "bind" {
			continue
		}
		tree, err := cloneTree(unix.AT_FDCWD, m.Source, opts[i].recursive)
		if err != nil {
			return step("mount bind", m.Target, err)
		}
		s.trees[i] = tree
		if err := checkDeviceSource(tree, m.Source, opts[i].device); err != nil {
			return step("mount bind", m.Target, err)
		}
	}
	return nil
}

func step(name, p string, err error) error {
	if err == nil {
		return nil
	}
	return &StepError{Pkg: "mount", Step: name, Path: p, Err: err}
}

// rootPropagations maps Root.Propagation to the propagation of the whole
// tree before anything is mounted and that of the finished root (0: as
// the tree's), and whether the latter is recursive.
var rootPropagations = map[string]struct {
	tree, root uintptr
	rec        bool
}{
	"": {unix.MS_PRIVATE, 0, false}, "rprivate": {unix.MS_PRIVATE, 0, false}, "private": {unix.MS_PRIVATE, 0, false},
	"rslave": {unix.MS_SLAVE, 0, false}, "slave": {unix.MS_SLAVE, 0, false},
	"rshared": {unix.MS_SLAVE, unix.MS_SHARED, true}, "shared": {unix.MS_SLAVE, unix.MS_SHARED, false},
	"runbindable": {unix.MS_PRIVATE, unix.MS_UNBINDABLE, true}, "unbindable": {unix.MS_PRIVATE, unix.MS_UNBINDABLE, false},
}

// finishPropagation gives the finished root the propagation Propagation
// asks of it, once no host mount is below it any more.
func (s *setup) finishPropagation() error {
	p := rootPropagations[s.r.Propagation]
	if p.root == 0 {
		return nil
	}
	flags := p.root
	if p.rec {
		flags |= unix.MS_REC
	}
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return step("propagation", "/", os.NewSyscallError("mount", err))
	}
	if !p.rec {
		return nil
	}
	// The recursive change went over the mounts' own options: they win.
	for _, f := range s.props {
		if err := setPropagation(f.fd, f.prop, f.rec); err != nil {
			return step("propagation", "/", err)
		}
	}
	return nil
}

func (s *setup) run(opts []parsedOptions) error {
	if err := unix.Mount("", "/", "", rootPropagations[s.r.Propagation].tree|unix.MS_REC, ""); err != nil {
		return step("propagation", "/", os.NewSyscallError("mount", err))
	}
	if err := s.cloneSources(opts); err != nil {
		return err
	}
	if err := s.openRoot(); err != nil {
		return err
	}
	for i := range s.r.Mounts {
		m := &s.r.Mounts[i]
		if err := step("mount "+m.Type, m.Target, s.apply(i, m, opts[i])); err != nil {
			return err
		}
	}
	if err := s.makeNodes(); err != nil {
		return err
	}
	for _, p := range s.r.MaskedPaths {
		if err := step("mask", p, s.mask(p)); err != nil {
			return err
		}
	}
	for _, p := range s.r.ReadonlyPaths {
		if err := step("readonly path", p, s.readonly(p)); err != nil {
			return err
		}
	}
	if beforePivot != nil {
		if err := step("test hook", "", beforePivot()); err != nil {
			return err
		}
	}
	if s.r.Path == "" {
		if err := step("chdir", "/", unix.Chdir("/")); err != nil {
			return err
		}
	} else if err := s.pivot(); err != nil {
		return err
	}
	return s.finishPropagation()
}

// openRoot makes the new root a mount point of its own (a recursive bind
// of Path onto itself, as pivot_root needs) and opens it; with Path ""
// it opens "/" and applies Readonly at once.
func (s *setup) openRoot() error {
	p := s.r.Path
	if p == "" {
		fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return step("open root", "/", err)
		}
		s.root = fd
		if s.r.Readonly {
			return step("readonly root", "/", setAttr(fd, unix.MOUNT_ATTR_RDONLY, 0, true))
		}
		return nil
	}
	tree, err := cloneTree(unix.AT_FDCWD, p, true)
	if err != nil {
		return step("bind root", p, err)
	}
	defer unix.Close(tree)
	dir, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return step("bind root", p, err)
	}
	defer unix.Close(dir)
	if err := attach(tree, dir); err != nil {
		return step("bind root", p, err)
	}
	// The clone's fd refers to the root of the new bind: use it rather than
	// looking Path up again.
	fd, err := unix.FcntlInt(uintptr(tree), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return step("bind root", p, err)
	}
	s.root = fd
	return nil
}

// pivot makes the new root "/" with pivot_root(".", ".") and detaches the
// old root stacked on top of it.
func (s *setup) pivot() error {
	if err := unix.Fchdir(s.root); err != nil {
		return step("pivot_root", s.r.Path, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return step("pivot_root", s.r.Path, os.NewSyscallError("pivot_root", err))
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return step("detach old root", "/", os.NewSyscallError("umount2", err))
	}
	if err := unix.Chdir("/"); err != nil {
		return step("chdir", "/", err)
	}
	if s.r.Readonly {
		fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return step("readonly root", "/", err)
		}
		defer unix.Close(fd)
		return step("readonly root", "/", setAttr(fd, unix.MOUNT_ATTR_RDONLY, 0, false))
	}
	return nil
}

// apply makes mount i, its target resolved (and created) inside the root.
func (s *setup) apply(i int, m *Mount, po parsedOptions) error {
	create := s.mayCreate(m.Target)
	if m.Type == "bind" {
		tree, ok := s.trees[i]
		if !ok { // not cloned up front: a Root with a Path
			t, err := cloneTree(unix.AT_FDCWD, m.Source, po.recursive)
			if err != nil {
				return err
			}
			defer unix.Close(t)
			if err := checkDeviceSource(t, m.Source, po.device); err != nil {
				return err
			}
			tree = t
		}
		return s.bind(tree, m, po, create)
	}
	// proc and sysfs only on a real directory, never through a symlink.
	strict := m.Type == "proc" || m.Type == "sysfs"
	tfd, err := ensureInRoot(s.root, m.Target, true, create, strict)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := s.checkTarget(tfd, m, -1); err != nil {
		return err
	}
	if m.Type == "dev" || m.Type == "tmpfs" {
		s.fresh = append(s.fresh, path.Clean(m.Target))
	}
	if m.Type == "dev" {
		return mountDev(tfd, m.Source, po, s.propagate)
	}
	mfd, err := newFS(m.Type, withSource(m.Source, po.params), po.set&^po.clr)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := attach(mfd, tfd); err != nil {
		return err
	}
	if err := checkFS(mfd, m.Type); err != nil {
		return err
	}
	return s.propagate(mfd, po)
}

func (s *setup) bind(tree int, m *Mount, po parsedOptions, create bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(tree, &st); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	tfd, err := ensureInRoot(s.root, m.Target, isDir, create, false)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := s.checkTarget(tfd, m, tree); err != nil {
		return err
	}
	if err := setAttr(tree, po.set, po.clr, true); err != nil {
		return err
	}
	if err := attach(tree, tfd); err != nil {
		return err
	}
	return s.propagate(tree, po)
}
