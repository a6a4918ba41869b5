package cgroup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// loop is the watcher's only goroutine: it sleeps in poll(2) on the
// inotify fd and the wake-up eventfd, turns inotify records into events by
// re-reading the changed file, and exits when done is closed.
func (w *Watcher) loop() {
	defer w.wg.Done()
	var buf [4096]byte
	var pending []Event
	for {
		pfd := [2]unix.PollFd{{Fd: int32(w.ifd), Events: unix.POLLIN}, {Fd: int32(w.wake.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd[:], -1); err != nil && err != unix.EINTR {
			pending = append(pending[:0], Event{Kind: EventError, Err: os.NewSyscallError("poll", err)})
			if !w.deliver(pending) {
				return
			}
			continue
		}
		select {
		case <-w.done:
			return
		default:
		}
		n, err := unix.Read(w.ifd, buf[:])
		if err != nil || n < inotifyHeader {
			continue // EAGAIN: spurious wake-up
		}
		pending = w.handle(buf[:n], pending[:0])
		if !w.deliver(pending) {
			return
		}
	}
}

// deliver sends evs, giving up when the watcher is closed.
func (w *Watcher) deliver(evs []Event) bool {
	for _, ev := range evs {
		select {
		case w.events <- ev:
		case <-w.done:
			return false
		}
	}
	return true
}

// handle decodes a batch of inotify records and appends resulting events.
func (w *Watcher) handle(b []byte, out []Event) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(b) >= inotifyHeader {
		wd := int32(binary.NativeEndian.Uint32(b[0:]))
		mask := binary.NativeEndian.Uint32(b[4:])
		nameLen := int(binary.NativeEndian.Uint32(b[12:]))
		if inotifyHeader+nameLen > len(b) {
			break
		}
		name := b[inotifyHeader : inotifyHeader+nameLen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i] // the kernel pads names with NULs
		}
		b = b[inotifyHeader+nameLen:]
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			for _, wt := range w.byPath {
				out = w.refreshLocked(wt, true, out)
				out = w.refreshLocked(wt, false, out)
			}
		case w.parents[wd] != nil:
			if wt := w.parents[wd].children[string(name)]; wt != nil && mask&unix.IN_DELETE != 0 {
				w.rmLocked(wt)
				out = append(out, Event{Cgroup: wt.c, Kind: EventRemoved})
			}
		case w.byWd[wd] != nil:
			out = w.fileEventLocked(w.byWd[wd], wd, mask, out)
		}
	}
	return out
}

// fileEventLocked handles a record of one of wt's event-file watches.
func (w *Watcher) fileEventLocked(wt *watch, wd int32, mask uint32, out []Event) []Event {
	if mask&unix.IN_IGNORED != 0 {
		// The kernel dropped the watch on its own; forget the wd.
		delete(w.byWd, wd)
		if wd == wt.evWd {
			wt.evWd = -1
		} else {
			wt.memWd, wt.memPath = -1, ""
		}
		return out
	}
	if mask&unix.IN_MODIFY != 0 {
		out = w.refreshLocked(wt, wd == wt.evWd, out)
	}
	return out
}

// refreshLocked re-reads one of wt's files (cgroup.events when cg, else
// memory.events) and appends the differences as events.
func (w *Watcher) refreshLocked(wt *watch, cg bool, out []Event) []Event {
	if cg {
		old := wt.ev
		err := w.readLocked(wt.eventsPath, func(b []byte) error { return parseCgroupEvents(b, &wt.ev) })
		if err != nil {
			wt.ev = old
			if errors.Is(err, os.ErrNotExist) {
				return out // being removed: IN_IGNORED follows
			}
			return append(out, Event{Cgroup: wt.c, Kind: EventError, Err: err})
		}
		if wt.ev.populated != old.populated {
			if !wt.ev.populated {
				// An OOM kill that emptied the cgroup is counted in
				// memory.events before the last process leaves: report
				// it first, since a watcher's user may stop at
				// EventEmpty and the cgroup may be gone before the
				// memory.events record arrives.
				out = w.refreshLocked(wt, false, out)
			}
			out = append(out, Event{Cgroup: wt.c, Kind: pick(wt.ev.populated, EventPopulated, EventEmpty)})
		}
		if wt.ev.frozen != old.frozen {
			out = append(out, Event{Cgroup: wt.c, Kind: pick(wt.ev.frozen, EventFrozen, EventThawed)})
		}
		return out
	}
	if wt.memPath == "" {
		return out
	}
	old := wt.mem
	err := w.readLocked(wt.memPath, func(b []byte) error { return parseMemoryEventsStat(b, &wt.mem) })
	if err != nil {
		wt.mem = old
		if errors.Is(err, os.ErrNotExist) {
			return out
		}
		return append(out, Event{Cgroup: wt.c, Kind: EventError, Err: err})
	}
	if wt.mem.OOM > old.OOM {
		out = append(out, Event{Cgroup: wt.c, Kind: EventOOM, Count: wt.mem.OOM, Delta: wt.mem.OOM - old.OOM})
	}
	if wt.mem.OOMKill > old.OOMKill {
		out = append(out, Event{Cgroup: wt.c, Kind: EventOOMKill, Count: wt.mem.OOMKill, Delta: wt.mem.OOMKill - old.OOMKill})
	}
	return out
}

func pick(b bool, yes, no EventKind) EventKind {
	if b {
		return yes
	}
	return no
}
