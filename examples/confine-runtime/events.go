package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
)

// The JSON `runc events` prints, one object per line: {"type":"stats" or
// "oom","id":ID,"data":...}. Field names and units are runc's (its
// types.Event and types.Stats, what go-runc's Event and Stats read):
// times in nanoseconds, cgroup v2 numbers mapped to their v1 names as
// runc maps them.
type runcEvent struct {
	Type string     `json:"type"`
	ID   string     `json:"id"`
	Data *runcStats `json:"data,omitempty"`
}

type runcStats struct {
	CPU               runcCPU                `json:"cpu"`
	Memory            runcMemory             `json:"memory"`
	Pids              runcPids               `json:"pids"`
	Blkio             runcBlkio              `json:"blkio"`
	Hugetlb           map[string]runcHugetlb `json:"hugetlb"`
	NetworkInterfaces []struct{}             `json:"network_interfaces"` // runc: only for interfaces it created
}

type runcCPU struct {
	Usage struct {
		Total  uint64 `json:"total,omitempty"`
		Kernel uint64 `json:"kernel"`
		User   uint64 `json:"user"`
	} `json:"usage"`
	Throttling struct {
		Periods          uint64 `json:"periods,omitempty"`
		ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
		ThrottledTime    uint64 `json:"throttledTime,omitempty"`
	} `json:"throttling"`
	PSI *runcPSI `json:"psi,omitempty"`
}

type runcMemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type runcMemory struct {
	Cache uint64            `json:"cache,omitempty"`
	Usage runcMemoryEntry   `json:"usage"`
	Swap  runcMemoryEntry   `json:"swap"`
	Raw   map[string]uint64 `json:"raw,omitempty"`
	PSI   *runcPSI          `json:"psi,omitempty"`
}

type runcPids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type runcBlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type runcBlkio struct {
	IoServiceBytesRecursive []runcBlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []runcBlkioEntry `json:"ioServicedRecursive,omitempty"`
	PSI                     *runcPSI         `json:"psi,omitempty"`
}

type runcHugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type runcPSIData struct {
	Avg10  float64 `json:"avg10"`
	Avg60  float64 `json:"avg60"`
	Avg300 float64 `json:"avg300"`
	Total  uint64  `json:"total"`
}

type runcPSI struct {
	Some runcPSIData `json:"some"`
	Full runcPSIData `json:"full"`
}

func (rt *runtime) cmdEvents(args []string) (int, error) {
	fs := rt.newFlags("events")
	interval := fs.Duration("interval", 5*time.Second, "stats interval")
	statsOnce := fs.Bool("stats", false, "print the stats once and exit")
	rest, err := parseArgs(fs, args, 1, "[--stats] [--interval D] ID")
	if err != nil {
		return 0, err
	}
	if *interval <= 0 {
		return 0, &UsageError{Msg: fmt.Sprintf("events --interval %v: must be > 0", *interval)}
	}
	return 0, rt.events(rest[0], *interval, *statsOnce)
}

// events prints the container's stats once (--stats), or streams them
// every interval together with an "oom" event whenever its memory.events
// counts an OOM, until the container's cgroup is empty or removed (as runc
// ends its stream with its OOM notifier). It holds no lock while
// streaming.
func (rt *runtime) events(id string, interval time.Duration, once bool) error {
	d, r, err := rt.open(id)
	if err != nil {
		return err
	}
	st := r.status(d.path)
	d.Close()
	if st == specs.StateStopped {
		return &StateError{ID: id, Status: string(st), Op: "report events"}
	}
	cg, err := cgroup.Open(r.CgroupPath)
	if err != nil {
		return err
	}
	defer cg.Close()
	enc := json.NewEncoder(rt.stdout)
	if once {
		s, err := containerStats(cg)
		if err != nil {
			return err
		}
		return enc.Encode(runcEvent{Type: "stats", ID: id, Data: s})
	}
	w, err := cgroup.NewWatcher(16)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(cg); err != nil {
		return err
	}
	// Emptied before the watch began: no event would ever say so.
	if pids, err := cg.AllProcesses(); err != nil || len(pids) == 0 {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case ev := <-w.Events():
			switch ev.Kind {
			case cgroup.EventOOM:
				if err := enc.Encode(runcEvent{Type: "oom", ID: id}); err != nil {
					return err
				}
			case cgroup.EventEmpty, cgroup.EventRemoved:
				return nil
			case cgroup.EventError:
				rt.errorf("events %s: %v", id, ev.Err)
			}
		case <-tick.C:
			s, err := containerStats(cg)
			if err != nil {
				rt.errorf("events %s: %v", id, err) // runc logs and goes on
				continue
			}
			if err := enc.Encode(runcEvent{Type: "stats", ID: id, Data: s}); err != nil {
				return err
			}
		}
	}
}

// containerStats reads what the container's cgroup has controllers for
// (cpu.stat always) and maps it as runc does on cgroup v2. A group whose
// controller is not enabled stays absent (zero), as in runc; pressure
// (psi) is left out where the kernel does not offer it.
func containerStats(cg *cgroup.Cgroup) (*runcStats, error) {
	ctrls, err := cg.Controllers()
	if err != nil {
		return nil, err
	}
	has := func(c string) bool { return slices.Contains(ctrls, c) }
	mask := cgroup.StatCPU
	for _, g := range []struct {
		ctrl string
		mask cgroup.StatMask
	}{
		{"memory", cgroup.StatMemory | cgroup.StatMemoryMax}, {"io", cgroup.StatIO},
		{"pids", cgroup.StatPids | cgroup.StatPidsMax}, {"hugetlb", cgroup.StatHugeTLB},
	} {
		if has(g.ctrl) {
			mask |= g.mask
		}
	}
	var s cgroup.Stats
	if err := cg.Stats(&s, mask); err != nil {
		return nil, err
	}
	swap := false
	if has("memory") {
		// memory.swap.* exist only with swap accounting (runc reports
		// zeros without it too).
		err := cg.Stats(&s, cgroup.StatSwap)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, err
		}
		swap = err == nil
	}
	out := toRuncStats(&s, mask, swap)
	if cg.Stats(&s, cgroup.StatPSI) == nil {
		out.CPU.PSI, out.Blkio.PSI = psi(s.PSI.CPU), psi(s.PSI.IO)
		if has("memory") {
			out.Memory.PSI = psi(s.PSI.Memory)
		}
	}
	return out, nil
}

func psi(p cgroup.PSI) *runcPSI {
	d := func(x cgroup.PSIData) runcPSIData {
		return runcPSIData{Avg10: x.Avg10, Avg60: x.Avg60, Avg300: x.Avg300, Total: x.Total}
	}
	return &runcPSI{Some: d(p.Some), Full: d(p.Full)}
}

// toRuncStats maps the groups of mask in s to runc's JSON.
func toRuncStats(s *cgroup.Stats, mask cgroup.StatMask, swap bool) *runcStats {
	out := &runcStats{Hugetlb: map[string]runcHugetlb{}}
	c := &out.CPU
	c.Usage.Total, c.Usage.User, c.Usage.Kernel = s.CPU.UsageUsec*1000, s.CPU.UserUsec*1000, s.CPU.SystemUsec*1000
	c.Throttling.Periods, c.Throttling.ThrottledPeriods = s.CPU.NrPeriods, s.CPU.NrThrottled
	c.Throttling.ThrottledTime = s.CPU.ThrottledUsec * 1000
	if mask&cgroup.StatMemory != 0 {
		m, lim := &out.Memory, s.Limits.MemoryMax
		m.Cache = s.Memory.Stat.File
		m.Usage = runcMemoryEntry{Usage: s.Memory.Current, Max: s.Memory.Peak, Limit: lim, Failcnt: s.Memory.Events.Max}
		m.Raw = memoryRaw(&s.Memory.Stat)
		if swap {
			// v1's swap entry is memory+swap: runc adds them up.
			m.Swap = runcMemoryEntry{Usage: s.Memory.SwapCurrent + s.Memory.Current, Limit: s.Limits.SwapMax}
			if s.Limits.SwapMax != 1<<64-1 && lim != 1<<64-1 {
				m.Swap.Limit += lim
			}
		}
	}
	if mask&cgroup.StatPids != 0 {
		out.Pids.Current = s.Pids.Current
		if s.Limits.PidsMax != 1<<64-1 { // runc: 0 means no limit
			out.Pids.Limit = s.Limits.PidsMax
		}
	}
	for _, d := range s.IO.Devices {
		maj, min := uint64(d.Major), uint64(d.Minor)
		out.Blkio.IoServiceBytesRecursive = append(out.Blkio.IoServiceBytesRecursive,
			runcBlkioEntry{maj, min, "Read", d.Rbytes}, runcBlkioEntry{maj, min, "Write", d.Wbytes})
		out.Blkio.IoServicedRecursive = append(out.Blkio.IoServicedRecursive,
			runcBlkioEntry{maj, min, "Read", d.Rios}, runcBlkioEntry{maj, min, "Write", d.Wios})
	}
	for _, h := range s.HugeTLB {
		out.Hugetlb[h.PageSize] = runcHugetlb{Usage: h.Current, Failcnt: h.MaxEvents}
	}
	return out
}

// memoryRaw is memory.stat under the kernel's own key names (runc's raw),
// for the keys the cgroup package reads.
func memoryRaw(m *cgroup.MemoryStat) map[string]uint64 {
	return map[string]uint64{
		"anon": m.Anon, "file": m.File, "kernel": m.Kernel, "kernel_stack": m.KernelStack,
		"pagetables": m.PageTables, "sock": m.Sock, "shmem": m.Shmem, "file_mapped": m.FileMapped,
		"file_dirty": m.FileDirty, "file_writeback": m.FileWriteback, "slab": m.Slab,
		"active_anon": m.ActiveAnon, "inactive_anon": m.InactiveAnon, "active_file": m.ActiveFile,
		"inactive_file": m.InactiveFile, "unevictable": m.Unevictable, "pgfault": m.PgFault,
		"pgmajfault": m.PgMajFault, "workingset_refault_anon": m.WorkingsetRefaultAnon,
		"workingset_refault_file": m.WorkingsetRefaultFile,
	}
}
