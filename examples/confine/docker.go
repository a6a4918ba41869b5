package main

import (
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/internal/units"
)

// flagInvalid reports a bad flag value with the library's one invalid-input
// type.
func flagInvalid(flag string, value any, reason string) error {
	return &cgroup.InvalidError{Pkg: "confine", Field: flag, Value: value, Reason: reason}
}

// DockerFlags are `docker run` resource flags as typed on the command line
// ("" = flag not given). Resources converts them the way dockerd and runc
// do on a cgroup v2 host.
type DockerFlags struct {
	CPUs              string // --cpus 0.5
	CPUShares         string // --cpu-shares 512
	CPUPeriod         string // --cpu-period (µs)
	CPUQuota          string // --cpu-quota (µs, -1 = none)
	CpusetCpus        string // --cpuset-cpus
	CpusetMems        string // --cpuset-mems
	Memory            string // --memory 512m
	MemorySwap        string // --memory-swap (memory plus swap, -1 = unlimited)
	MemoryReservation string // --memory-reservation
	PidsLimit         string // --pids-limit (0 or -1 = unlimited)
	BlkioWeight       string // --blkio-weight 10..1000
	// DeviceReadBps etc. are DEV:RATE values of the repeatable
	// --device-{read,write}-{bps,iops} flags.
	DeviceReadBps, DeviceWriteBps   []string
	DeviceReadIOPS, DeviceWriteIOPS []string
}

// dockerMinMemory is dockerd's lower bound for --memory (6 MiB).
const dockerMinMemory = 6 << 20

// Resources converts the flags. Errors are *InvalidError naming the flag.
func (f DockerFlags) Resources() (cgroup.Resources, error) {
	var r cgroup.Resources
	cpu, err := f.cpu()
	if err != nil {
		return r, err
	}
	r.CPU = cpu
	if r.Memory, err = f.memory(); err != nil {
		return r, err
	}
	if f.PidsLimit != "" {
		n, err := strconv.ParseInt(f.PidsLimit, 10, 64)
		if err != nil {
			return r, flagInvalid("--pids-limit", f.PidsLimit, "must be an integer")
		}
		r.Pids = &cgroup.Pids{Max: n}
		if n <= 0 {
			r.Pids.Max = cgroup.Unlimited
		}
	}
	if r.IO, err = f.io(); err != nil {
		return r, err
	}
	return r, nil
}

func (f DockerFlags) cpu() (*cgroup.CPU, error) {
	c := &cgroup.CPU{Cpus: f.CpusetCpus, Mems: f.CpusetMems}
	if f.CPUs != "" {
		if f.CPUPeriod != "" || f.CPUQuota != "" {
			return nil, flagInvalid("--cpus", f.CPUs, "conflicts with --cpu-period/--cpu-quota")
		}
		m, err := DockerCPUs(f.CPUs)
		if err != nil {
			return nil, err
		}
		c.Max = m
	}
	if f.CPUQuota != "" || f.CPUPeriod != "" {
		m := &cgroup.CPUMax{Quota: cgroup.Unlimited}
		if f.CPUQuota != "" {
			q, err := strconv.ParseInt(f.CPUQuota, 10, 64)
			if err != nil || q < -1 || (q > 0 && q < 1000) {
				return nil, flagInvalid("--cpu-quota", f.CPUQuota, "must be -1 or >= 1000 (µs)")
			}
			if q > 0 {
				m.Quota = time.Duration(q) * time.Microsecond
			}
		}
		if f.CPUPeriod != "" {
			p, err := strconv.ParseInt(f.CPUPeriod, 10, 64)
			if err != nil || p < 1000 || p > 1000000 {
				return nil, flagInvalid("--cpu-period", f.CPUPeriod, "must be 1000..1000000 (µs)")
			}
			m.Period = time.Duration(p) * time.Microsecond
		}
		c.Max = m
	}
	if f.CPUShares != "" {
		s, err := strconv.ParseUint(f.CPUShares, 10, 64)
		if err != nil {
			return nil, flagInvalid("--cpu-shares", f.CPUShares, "must be a non-negative integer")
		}
		c.Weight = cgroup.SharesToWeight(s)
	}
	if *c == (cgroup.CPU{}) {
		return nil, nil
	}
	return c, nil
}

// DockerCPUs converts `--cpus` the way dockerd does: NanoCPUs =
// value×10⁹ (exactly; finer precision is an error), then runc's quota =
// NanoCPUs × 100000 / 10⁹ µs over a 100 ms period.
func DockerCPUs(s string) (*cgroup.CPUMax, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 {
		return nil, flagInvalid("--cpus", s, "must be a positive decimal number")
	}
	nano := new(big.Rat).Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() || !nano.Num().IsInt64() {
		return nil, flagInvalid("--cpus", s, "too precise or too large")
	}
	quota := nano.Num().Int64() * 100000 / 1e9
	if quota < 1000 {
		return nil, flagInvalid("--cpus", s, "below 0.01 cgroup.CPU (the kernel's 1 ms minimum quota)")
	}
	return &cgroup.CPUMax{Quota: time.Duration(quota) * time.Microsecond, Period: cgroup.DefaultCPUPeriod}, nil
}

func (f DockerFlags) memory() (*cgroup.Memory, error) {
	if f.Memory == "" && f.MemorySwap == "" && f.MemoryReservation == "" {
		return nil, nil
	}
	mem, err := dockerSizeFlag("--memory", f.Memory, false)
	if err != nil {
		return nil, err
	}
	if mem > 0 && mem < dockerMinMemory {
		return nil, flagInvalid("--memory", f.Memory, "below Docker's minimum of 6MB")
	}
	swap, err := dockerSizeFlag("--memory-swap", f.MemorySwap, true)
	if err != nil {
		return nil, err
	}
	res, err := dockerSizeFlag("--memory-reservation", f.MemoryReservation, false)
	if err != nil {
		return nil, err
	}
	if mem > 0 && res > mem {
		return nil, flagInvalid("--memory-reservation", f.MemoryReservation, "must not exceed --memory")
	}
	if swap == 0 && mem > 0 {
		swap = 2 * mem // dockerd's default: as much swap as memory
	}
	m := &cgroup.Memory{Max: mem, Low: res}
	m.Swap, err = cgroup.SwapMax(swap, mem, "--memory-swap", f.MemorySwap)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func dockerSizeFlag(flag, s string, allowMinusOne bool) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if allowMinusOne && s == "-1" {
		return -1, nil
	}
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, flagInvalid(flag, s, err.Error())
	}
	return n, nil
}

func (f DockerFlags) io() (*cgroup.IO, error) {
	o := &cgroup.IO{}
	if f.BlkioWeight != "" {
		w, err := strconv.ParseUint(f.BlkioWeight, 10, 16)
		if err != nil || (w != 0 && (w < 10 || w > 1000)) {
			return nil, flagInvalid("--blkio-weight", f.BlkioWeight, "must be 10..1000 (or 0 for none)")
		}
		o.Weight = cgroup.BlkioToIOWeight(w)
	}
	for _, spec := range []struct {
		flag   string
		vals   []string
		isSize bool
		set    func(d *cgroup.IODevice, v int64)
	}{
		{"--device-read-bps", f.DeviceReadBps, true, func(d *cgroup.IODevice, v int64) { d.Rbps = v }},
		{"--device-write-bps", f.DeviceWriteBps, true, func(d *cgroup.IODevice, v int64) { d.Wbps = v }},
		{"--device-read-iops", f.DeviceReadIOPS, false, func(d *cgroup.IODevice, v int64) { d.Riops = v }},
		{"--device-write-iops", f.DeviceWriteIOPS, false, func(d *cgroup.IODevice, v int64) { d.Wiops = v }},
	} {
		for _, val := range spec.vals {
			path, rate, ok := strings.Cut(val, ":")
			if !ok || !strings.HasPrefix(path, "/dev/") {
				return nil, flagInvalid(spec.flag, val, "want /dev/DEVICE:RATE")
			}
			var n int64
			var err error
			if spec.isSize {
				n, err = units.ParseSize(rate)
			} else {
				var u uint64
				u, err = strconv.ParseUint(rate, 10, 63)
				n = int64(u)
			}
			if err != nil || n <= 0 {
				return nil, flagInvalid(spec.flag, val, "want a positive rate")
			}
			spec.set(ioDevice(o, path), n)
		}
	}
	if o.Weight == 0 && o.Devices == nil {
		return nil, nil
	}
	return o, nil
}

// ioDevice finds or adds the entry for path, so one device named by
// several flags gets one io.max line.
func ioDevice(o *cgroup.IO, path string) *cgroup.IODevice {
	for i := range o.Devices {
		if o.Devices[i].Path == path {
			return &o.Devices[i]
		}
	}
	o.Devices = append(o.Devices, cgroup.IODevice{Path: path})
	return &o.Devices[len(o.Devices)-1]
}
