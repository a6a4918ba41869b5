package cgroup

import (
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// StatMask selects which controllers Stats reads.
type StatMask uint32

// Stat groups for Stats.
const (
	StatCPU     StatMask = 1 << iota // cpu.stat
	StatMemory                       // memory.current, .peak, .stat, .events
	StatIO                           // io.stat
	StatPids                         // pids.current, pids.peak
	StatHugeTLB                      // hugetlb.<size>.current, .max, .events
	StatPSI                          // cpu.pressure, memory.pressure, io.pressure
	StatNetwork                      // bandwidth limiter counters
	// StatAll reads every usage group above. The limits in force are read
	// back only on request (StatLimits, stats_limits.go).
	StatAll = StatCPU | StatMemory | StatIO | StatPids | StatHugeTLB | StatPSI | StatNetwork
)

// Stats is a caller-owned snapshot of a cgroup's usage. Reuse one value
// across calls: Stats overwrites the parts it reads and reuses slices, so a
// reused Stats costs no allocation for CPU and memory.
type Stats struct {
	CPU     CPUStats
	Memory  MemoryStats
	IO      IOStats
	Pids    PidsStats
	HugeTLB []HugeTLBStats
	PSI     PSIStats
	Network NetworkStats
	// Limits holds the limits in force, read by the StatLimits groups.
	Limits LimitStats
}

// CPUStats is cpu.stat. Times are in microseconds.
type CPUStats struct {
	UsageUsec, UserUsec, SystemUsec       uint64
	NrPeriods, NrThrottled, ThrottledUsec uint64
	NrBursts, BurstUsec                   uint64
}

// MemoryStats holds memory.current, memory.peak, memory.stat and
// memory.events, in bytes and event counts.
type MemoryStats struct {
	Current uint64
	// Peak is memory.peak (Linux 5.19).
	Peak   uint64
	Stat   MemoryStat
	Events MemoryEvents
	// SwapCurrent is memory.swap.current, read with StatSwap (not
	// StatMemory: the file exists only with swap accounting).
	SwapCurrent uint64
}

// MemoryStat is a subset of memory.stat: bytes, and page-fault counts.
type MemoryStat struct {
	Anon, File, Kernel, KernelStack, PageTables, Sock, Shmem uint64
	FileMapped, FileDirty, FileWriteback, Slab               uint64
	ActiveAnon, InactiveAnon, ActiveFile, InactiveFile       uint64
	Unevictable                                              uint64
	PgFault, PgMajFault                                      uint64
	WorkingsetRefaultAnon, WorkingsetRefaultFile             uint64
}

// MemoryEvents counts memory.events: how often the group hit each
// boundary, how often the OOM killer was invoked and killed in it.
type MemoryEvents struct {
	Low, High, Max, OOM, OOMKill, OOMGroupKill uint64
}

// IOStats is io.stat, one entry per device with I/O.
type IOStats struct {
	Devices []IODeviceStats
}

// IODeviceStats is one io.stat line.
type IODeviceStats struct {
	Major, Minor               uint32
	Rbytes, Wbytes, Rios, Wios uint64
	Dbytes, Dios               uint64
}

// PidsStats is pids.current and pids.peak.
type PidsStats struct {
	Current uint64
	// Peak is pids.peak (Linux 6.1).
	Peak uint64
}

// HugeTLBStats is one huge page size's usage.
type HugeTLBStats struct {
	PageSize string
	Current  uint64
	// Max is the limit; MaxUint64 when unlimited.
	Max uint64
	// MaxEvents counts allocations that failed on the limit.
	MaxEvents uint64
}

// PSIStats is pressure stall information (Linux 4.20, CONFIG_PSI).
type PSIStats struct {
	CPU, Memory, IO PSI
}

// PSI is one pressure file.
type PSI struct {
	Some, Full PSIData
}

// PSIData is one line: share of time stalled (percent) over 10 s, 60 s
// and 300 s, and the total stall time in microseconds.
type PSIData struct {
	Avg10, Avg60, Avg300 float64
	Total                uint64
}

// File names NUL-terminated once, so opening them needs no allocation.
var (
	nameCPUStat        = []byte("cpu.stat\x00")
	nameMemCurrent     = []byte("memory.current\x00")
	nameMemPeak        = []byte("memory.peak\x00")
	nameMemStat        = []byte("memory.stat\x00")
	nameMemEvents      = []byte("memory.events\x00")
	nameIOStat         = []byte("io.stat\x00")
	namePidsCurrent    = []byte("pids.current\x00")
	namePidsPeak       = []byte("pids.peak\x00")
	nameCPUPressure    = []byte("cpu.pressure\x00")
	nameMemoryPressure = []byte("memory.pressure\x00")
	nameIOPressure     = []byte("io.pressure\x00")
)

// Stats reads the groups in mask into s. Every file read must exist: a
// missing file (controller not enabled, kernel too old) is an error naming
// it, never a silent 0. On error s may be partly updated.
func (c *Cgroup) Stats(s *Stats, mask StatMask) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return errClosed
	}
	if c.buf == nil {
		c.buf = make([]byte, 8192)
	}
	if mask&StatCPU != 0 {
		if err := c.statCPU(s); err != nil {
			return err
		}
	}
	if mask&StatMemory != 0 {
		if err := c.statMemory(&s.Memory); err != nil {
			return err
		}
	}
	if mask&StatIO != 0 {
		b, err := c.readLocked(nameIOStat)
		if err == nil {
			s.IO.Devices, err = parseIOStat(b, s.IO.Devices)
		}
		if err != nil {
			return c.statErr(nameIOStat, err)
		}
	}
	if mask&StatPids != 0 {
		if err := c.statPids(&s.Pids); err != nil {
			return err
		}
	}
	if mask&StatHugeTLB != 0 {
		if err := c.statHugeTLB(s); err != nil {
			return err
		}
	}
	if mask&StatPSI != 0 {
		if err := c.statPSI(&s.PSI); err != nil {
			return err
		}
	}
	if mask&StatNetwork != 0 {
		if err := c.networkStats(&s.Network); err != nil {
			return err
		}
	}
	if mask&StatLimits != 0 {
		return c.statLimits(s, mask)
	}
	return nil
}

func (c *Cgroup) statCPU(s *Stats) error {
	b, err := c.readLocked(nameCPUStat)
	if err == nil {
		err = parseCPUStat(b, &s.CPU)
	}
	return c.statErr(nameCPUStat, err)
}

func (c *Cgroup) statMemory(m *MemoryStats) error {
	var err error
	if m.Current, err = c.readSingle(nameMemCurrent); err != nil {
		return err
	}
	if m.Peak, err = c.readSingle(nameMemPeak); err != nil {
		return err
	}
	b, err := c.readLocked(nameMemStat)
	if err == nil {
		err = parseMemoryStat(b, &m.Stat)
	}
	if err != nil {
		return c.statErr(nameMemStat, err)
	}
	b, err = c.readLocked(nameMemEvents)
	if err == nil {
		err = parseMemoryEventsStat(b, &m.Events)
	}
	return c.statErr(nameMemEvents, err)
}

func (c *Cgroup) statPids(p *PidsStats) error {
	var err error
	if p.Current, err = c.readSingle(namePidsCurrent); err != nil {
		return err
	}
	p.Peak, err = c.readSingle(namePidsPeak)
	return err
}

func (c *Cgroup) statPSI(p *PSIStats) error {
	for _, f := range []struct {
		name []byte
		dst  *PSI
	}{{nameCPUPressure, &p.CPU}, {nameMemoryPressure, &p.Memory}, {nameIOPressure, &p.IO}} {
		b, err := c.readLocked(f.name)
		if err == nil {
			err = parsePSI(b, f.dst)
		}
		if err != nil {
			return c.statErr(f.name, err)
		}
	}
	return nil
}

func (c *Cgroup) readSingle(name []byte) (uint64, error) {
	b, err := c.readLocked(name)
	if err != nil {
		return 0, c.statErr(name, err)
	}
	v, err := parseSingle(b)
	return v, c.statErr(name, err)
}

// statErr names the file in a read or parse error (allocating only then).
func (c *Cgroup) statErr(name []byte, err error) error {
	if err == nil {
		return nil
	}
	return fileError("read", filepath.Join(c.path, string(name[:len(name)-1])), "", err)
}

// readLocked reads a whole control file into c.buf with raw syscalls (no
// allocation); the result is valid until the next read. c.mu is held.
func (c *Cgroup) readLocked(name []byte) ([]byte, error) {
	fd, err := openatRaw(c.fd, name)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(c.buf) {
			c.buf = append(c.buf, make([]byte, len(c.buf))...)
		}
		m, err := unix.Read(fd, c.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return c.buf[:n], nil
		}
		n += m
	}
}

// openatRaw is openat(2) on a NUL-terminated name, avoiding the string
// conversion unix.Openat allocates for.
func openatRaw(dirfd int, name []byte) (int, error) {
	for {
		r, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&name[0])),
			uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}
