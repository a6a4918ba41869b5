package cgroup

import (
	"maps"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FromOCI converts OCI runtime-spec resources to Resources the way runc
// does on a cgroup v2 host. Settings cgroup v2 cannot honour (kernel
// memory TCP, swappiness, disabling the OOM killer, realtime CPU,
// per-device and leaf block-IO weights, net_cls/net_prio, rdma) are
// refused with an *InvalidError rather than silently dropped; the
// deprecated Memory.Kernel is ignored as the spec allows. Unified is
// copied into Resources.Unified, whose keys Apply validates and writes
// after the typed fields, as runc does (see Resources.Unified for the
// rules and where they differ from runc's).
func FromOCI(l *specs.LinuxResources) (Resources, error) {
	var r Resources
	if l == nil {
		return r, nil
	}
	var err error
	if r.Memory, err = ociMemory(l.Memory); err != nil {
		return r, err
	}
	if r.CPU, err = ociCPU(l.CPU); err != nil {
		return r, err
	}
	if l.Pids != nil && l.Pids.Limit != nil {
		r.Pids = &Pids{Max: *l.Pids.Limit}
		if *l.Pids.Limit <= 0 {
			r.Pids.Max = Unlimited
		}
	}
	if r.IO, err = ociBlockIO(l.BlockIO); err != nil {
		return r, err
	}
	for _, h := range l.HugepageLimits {
		v := int64(h.Limit)
		if h.Limit == 0 {
			v = Zero
		} else if h.Limit > 1<<62 {
			v = Unlimited
		}
		r.HugeTLB = append(r.HugeTLB, HugeTLB{PageSize: h.Pagesize, Max: v})
	}
	if r.Devices, err = ociDevices(l.Devices); err != nil {
		return r, err
	}
	switch {
	case l.Network != nil:
		return r, invalid("LinuxResources.Network", "set", "net_cls/net_prio are cgroup v1 only")
	case len(l.Rdma) > 0:
		return r, invalid("LinuxResources.Rdma", len(l.Rdma), "rdma limits are not supported")
	}
	if len(l.Unified) > 0 {
		r.Unified = maps.Clone(l.Unified) // Resources is a value: share nothing with l
	}
	return r, nil
}

func ociMemory(m *specs.LinuxMemory) (*Memory, error) {
	if m == nil {
		return nil, nil
	}
	switch {
	case m.KernelTCP != nil:
		return nil, invalid("LinuxMemory.KernelTCP", *m.KernelTCP, "not available in cgroup v2")
	case m.Swappiness != nil:
		return nil, invalid("LinuxMemory.Swappiness", *m.Swappiness, "not available in cgroup v2")
	case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
		return nil, invalid("LinuxMemory.DisableOOMKiller", true, "not available in cgroup v2")
	}
	out := &Memory{}
	var limit, swap int64
	if m.Limit != nil {
		limit = *m.Limit
		out.Max = ociBytes(limit)
	}
	if m.Reservation != nil {
		out.Low = ociBytes(*m.Reservation)
	}
	if m.Swap != nil {
		swap = *m.Swap
	}
	// runc: unlimited memory with swap unset means unlimited swap too.
	if limit == -1 && swap == 0 {
		swap = -1
	}
	var err error
	if out.Swap, err = SwapMax(swap, limit, "LinuxMemory.Swap", swap); err != nil {
		return nil, err
	}
	for _, v := range []int64{out.Max, out.Low} {
		if v < 0 && v != Zero {
			return nil, invalid("LinuxMemory", v, "negative limits other than -1 are invalid")
		}
	}
	return out, nil
}

// ociBytes maps runc's conventions: -1 unlimited, 0 unset.
func ociBytes(v int64) int64 {
	if v == -1 {
		return Unlimited
	}
	return v
}

func ociCPU(c *specs.LinuxCPU) (*CPU, error) {
	if c == nil {
		return nil, nil
	}
	if (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) || (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) {
		return nil, invalid("LinuxCPU.RealtimeRuntime", "set", "realtime CPU is not available in cgroup v2")
	}
	out := &CPU{Cpus: c.Cpus, Mems: c.Mems}
	if c.Shares != nil {
		out.Weight = SharesToWeight(*c.Shares)
	}
	var quota int64
	var period uint64
	if c.Quota != nil {
		quota = *c.Quota
	}
	if c.Period != nil {
		period = *c.Period
	}
	if quota != 0 || period != 0 {
		m := &CPUMax{Quota: Unlimited, Period: time.Duration(period) * time.Microsecond}
		if quota > 0 {
			m.Quota = time.Duration(quota) * time.Microsecond
		}
		out.Max = m
	}
	if c.Burst != nil {
		out.Burst = time.Duration(*c.Burst) * time.Microsecond
		if *c.Burst == 0 {
			out.Burst = Zero
		}
	}
	if c.Idle != nil {
		switch *c.Idle {
		case 0:
			out.Idle = Off
		case 1:
			out.Idle = On
		default:
			return nil, invalid("LinuxCPU.Idle", *c.Idle, "must be 0 or 1")
		}
	}
	return out, nil
}

func ociBlockIO(b *specs.LinuxBlockIO) (*IO, error) {
	if b == nil {
		return nil, nil
	}
	if len(b.WeightDevice) > 0 || b.LeafWeight != nil {
		return nil, invalid("LinuxBlockIO.WeightDevice", len(b.WeightDevice), "per-device and leaf weights are not supported")
	}
	o := &IO{}
	if b.Weight != nil && *b.Weight != 0 {
		if *b.Weight < 10 || *b.Weight > 1000 {
			return nil, invalid("LinuxBlockIO.Weight", *b.Weight, "must be 10..1000")
		}
		o.Weight = BlkioToIOWeight(uint64(*b.Weight))
	}
	for _, l := range []struct {
		name string
		devs []specs.LinuxThrottleDevice
		set  func(d *IODevice, v int64)
	}{
		{"ThrottleReadBpsDevice", b.ThrottleReadBpsDevice, func(d *IODevice, v int64) { d.Rbps = v }},
		{"ThrottleWriteBpsDevice", b.ThrottleWriteBpsDevice, func(d *IODevice, v int64) { d.Wbps = v }},
		{"ThrottleReadIOPSDevice", b.ThrottleReadIOPSDevice, func(d *IODevice, v int64) { d.Riops = v }},
		{"ThrottleWriteIOPSDevice", b.ThrottleWriteIOPSDevice, func(d *IODevice, v int64) { d.Wiops = v }},
	} {
		for i, td := range l.devs {
			if td.Major < 0 || td.Minor < 0 || td.Major > 1<<32-1 || td.Minor > 1<<32-1 {
				return nil, invalid("LinuxBlockIO."+l.name+"["+strconv.Itoa(i)+"]", td.Major, "bad device number")
			}
			v := int64(td.Rate)
			if td.Rate == 0 || td.Rate > 1<<62 {
				v = Unlimited // runc writes "max" for rate 0
			}
			l.set(ioDeviceNum(o, uint32(td.Major), uint32(td.Minor)), v)
		}
	}
	if o.Weight == 0 && o.Devices == nil {
		return nil, nil
	}
	return o, nil
}

func ioDeviceNum(o *IO, major, minor uint32) *IODevice {
	for i := range o.Devices {
		if o.Devices[i].Major == major && o.Devices[i].Minor == minor {
			return &o.Devices[i]
		}
	}
	o.Devices = append(o.Devices, IODevice{Major: major, Minor: minor})
	return &o.Devices[len(o.Devices)-1]
}

func ociDevices(ds []specs.LinuxDeviceCgroup) ([]DeviceRule, error) {
	if ds == nil {
		return nil, nil
	}
	rules := make([]DeviceRule, 0, len(ds))
	for i, d := range ds {
		field := "LinuxResources.Devices[" + strconv.Itoa(i) + "]"
		r := DeviceRule{Allow: d.Allow, Major: DeviceWildcard, Minor: DeviceWildcard, Access: DeviceRWM}
		switch d.Type {
		case "", "a":
			r.Type = AllDevices
		case "b":
			r.Type = BlockDevice
		case "c":
			r.Type = CharDevice
		default:
			return nil, invalid(field+".Type", d.Type, `must be "a", "b" or "c"`)
		}
		if d.Major != nil {
			r.Major = *d.Major
		}
		if d.Minor != nil {
			r.Minor = *d.Minor
		}
		if d.Access != "" {
			a, err := ParseDeviceAccess(d.Access)
			if err != nil {
				return nil, invalid(field+".Access", d.Access, `want a non-empty combination of "r", "w", "m"`)
			}
			r.Access = a
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// SwapMax turns a cgroup v1 style memory+swap limit (OCI's
// LinuxMemory.Swap, docker's --memory-swap) into a Memory.Swap value the
// way runc does: -1 is Unlimited, 0 unset, otherwise memsw - mem, where
// mem == memsw disables swap (Zero). A bad combination is an
// *InvalidError naming field with the caller's raw value.
func SwapMax(memsw, mem int64, field string, raw any) (int64, error) {
	switch {
	case memsw == -1:
		return Unlimited, nil
	case memsw == 0:
		return 0, nil
	case mem <= 0:
		return 0, invalid(field, raw, "a swap limit needs a memory limit")
	case memsw < mem:
		return 0, invalid(field, raw, "memory+swap must be >= the memory limit")
	case memsw == mem:
		return Zero, nil
	}
	return memsw - mem, nil
}
