package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EventKind says what happened to a watched cgroup.
type EventKind int

const (
	// EventPopulated: the cgroup or a descendant gained its first process.
	EventPopulated EventKind = iota + 1
	// EventEmpty: the last process of the cgroup's subtree left. An
	// OOM kill that emptied it is reported (EventOOM, EventOOMKill) before.
	EventEmpty
	// EventFrozen: the cgroup became fully frozen.
	EventFrozen
	// EventThawed: the cgroup is no longer frozen.
	EventThawed
	// EventOOM: the memory limit was hit and the OOM killer ran (or would
	// have); Count is memory.events "oom".
	EventOOM
	// EventOOMKill: processes were OOM-killed; Count is memory.events
	// "oom_kill".
	EventOOMKill
	// EventRemoved: the cgroup directory was removed (rmdir); its watch
	// ended.
	EventRemoved
	// EventError: re-reading an event file failed; Err says why.
	EventError
)

var kindNames = [...]string{"", "populated", "empty", "frozen", "thawed", "oom", "oom_kill", "removed", "error"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change of a watched cgroup.
type Event struct {
	// Cgroup is the value given to Watcher.Add; nil for an EventError of
	// the watcher itself (poll failed).
	Cgroup *Cgroup
	// Kind says what changed.
	Kind EventKind
	// Count is the cumulative counter for EventOOM and EventOOMKill (its
	// new value; Delta is the increase since the previous event).
	Count, Delta uint64
	// Err is set for EventError.
	Err error
}

// Watcher delivers events of many cgroups through one inotify instance and
// one goroutine: no fd or goroutine per cgroup. It watches cgroup.events
// (populated, frozen), memory.events where the memory controller is
// enabled (oom, oom_kill), and each watched cgroup's parent directory, whose
// IN_DELETE tells that the cgroup was removed (the kernel sends nothing to
// watches on a removed cgroup's own files). memory.events is watched when
// it exists at Add (enable the memory controller first). Events reflect
// changes seen after Add; several changes between two reads are merged (counts stay
// exact).
type Watcher struct {
	events chan Event
	done   chan struct{}
	wg     sync.WaitGroup
	wake   *eventFD
	ifd    int

	mu      sync.Mutex
	byWd    map[int32]*watch    // event-file watches
	parents map[int32]*dirWatch // parent-directory watches
	byPath  map[string]*watch
	closed  bool
	readBuf [512]byte // guarded by mu
}

// dirWatch is one parent directory, shared by its watched children.
type dirWatch struct {
	wd       int32
	children map[string]*watch // by base name
}

type watch struct {
	c          *Cgroup
	eventsPath string
	memPath    string // "" when memory.events is not watched
	evWd       int32
	memWd      int32 // -1 when none
	parent     *dirWatch
	name       string
	ev         cgEvents
	mem        MemoryEvents
}

// NewWatcher starts a watcher whose channel buffers up to buffer events
// (a slow reader delays, never loses, events: the loop blocks sending).
// Close it to stop its goroutine and release its fds.
func NewWatcher(buffer int) (*Watcher, error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	wake, err := newEventFD()
	if err != nil {
		unix.Close(ifd)
		return nil, err
	}
	w := &Watcher{
		events:  make(chan Event, max(buffer, 0)),
		done:    make(chan struct{}),
		wake:    wake,
		ifd:     ifd,
		byWd:    map[int32]*watch{},
		parents: map[int32]*dirWatch{},
		byPath:  map[string]*watch{},
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

// Events returns the channel events arrive on. It is closed by Close.
func (w *Watcher) Events() <-chan Event { return w.events }

// Add starts watching c. Adding a cgroup that is already watched is a
// no-op. The watcher uses c's path, not its fd: closing c does not end the
// watch, Remove or the cgroup's removal (EventRemoved) does.
func (w *Watcher) Add(c *Cgroup) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("cgroup: watcher closed")
	}
	if _, ok := w.byPath[c.path]; ok {
		return nil
	}
	wt := &watch{c: c, eventsPath: filepath.Join(c.path, "cgroup.events"), evWd: -1, memWd: -1,
		name: filepath.Base(c.path)}
	if err := w.addWatchesLocked(wt); err != nil {
		w.rmLocked(wt)
		return err
	}
	// Baseline: only later changes become events.
	err := w.readLocked(wt.eventsPath, func(b []byte) error { return parseCgroupEvents(b, &wt.ev) })
	if err == nil && wt.memPath != "" {
		err = w.readLocked(wt.memPath, func(b []byte) error { return parseMemoryEventsStat(b, &wt.mem) })
	}
	if err != nil {
		w.rmLocked(wt)
		return err
	}
	w.byPath[c.path] = wt
	return nil
}

// addWatchesLocked adds wt's inotify watches and registers them; on error
// the caller undoes with rmLocked.
func (w *Watcher) addWatchesLocked(wt *watch) error {
	wd, err := unix.InotifyAddWatch(w.ifd, wt.eventsPath, unix.IN_MODIFY)
	if err != nil {
		return fileError("watch", wt.eventsPath, "", err)
	}
	wt.evWd = int32(wd)
	w.byWd[wt.evWd] = wt
	mp := filepath.Join(wt.c.path, "memory.events")
	if wd, err := unix.InotifyAddWatch(w.ifd, mp, unix.IN_MODIFY); err == nil {
		wt.memPath, wt.memWd = mp, int32(wd)
		w.byWd[wt.memWd] = wt
	} else if !errors.Is(err, unix.ENOENT) {
		return fileError("watch", mp, "", err)
	}
	dir := filepath.Dir(wt.c.path)
	// The same directory yields the same wd, so siblings share it.
	wd, err = unix.InotifyAddWatch(w.ifd, dir, unix.IN_DELETE|unix.IN_ONLYDIR)
	if err != nil {
		return fileError("watch", dir, "", err)
	}
	p := w.parents[int32(wd)]
	if p == nil {
		p = &dirWatch{wd: int32(wd), children: map[string]*watch{}}
		w.parents[p.wd] = p
	}
	p.children[wt.name] = wt
	wt.parent = p
	return nil
}

// Remove stops watching c. Removing a cgroup that is not watched is a no-op.
func (w *Watcher) Remove(c *Cgroup) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt, ok := w.byPath[c.path]; ok {
		w.rmLocked(wt)
	}
	return nil
}

// rmLocked forgets wt and removes its inotify watches, including the
// parent directory's once no watched sibling needs it.
func (w *Watcher) rmLocked(wt *watch) {
	for _, wd := range []int32{wt.evWd, wt.memWd} {
		if wd < 0 {
			continue
		}
		if w.byWd[wd] == wt {
			delete(w.byWd, wd)
		}
		_, _ = unix.InotifyRmWatch(w.ifd, uint32(wd))
	}
	wt.evWd, wt.memWd = -1, -1
	if p := wt.parent; p != nil && p.children[wt.name] == wt {
		delete(p.children, wt.name)
		if len(p.children) == 0 {
			delete(w.parents, p.wd)
			_, _ = unix.InotifyRmWatch(w.ifd, uint32(p.wd))
		}
	}
	wt.parent = nil
	if w.byPath[wt.c.path] == wt {
		delete(w.byPath, wt.c.path)
	}
}

// Close stops the loop, waits for its goroutine to exit, releases the fds
// and closes the Events channel. Nil-safe and idempotent.
func (w *Watcher) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.done)
	w.wake.signal()
	w.wg.Wait()
	close(w.events)
	err := unix.Close(w.ifd)
	return errors.Join(err, w.wake.Close())
}

// readLocked reads a small event file into the reused buffer and parses it.
func (w *Watcher) readLocked(path string, parse func([]byte) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fileError("read", path, "", err)
	}
	n, err := preadRetry(fd, w.readBuf[:])
	unix.Close(fd)
	if err != nil {
		return fileError("read", path, "", err)
	}
	if err := parse(w.readBuf[:n]); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	return nil
}

// inotifyHeader is the fixed part of struct inotify_event.
const inotifyHeader = int(unsafe.Sizeof(unix.InotifyEvent{}))
