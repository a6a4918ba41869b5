package cgroup

import (
	"errors"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
)

// ParseSize reads the one size grammar (internal/units has the full
// table) and reports bad input as an *InvalidError naming the value.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512m": 512 << 20, "1.5g": 1536 << 20, "64KiB": 64 << 10, "1p": 1 << 50} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1x", "1e3"} {
		var ie *InvalidError
		if _, err := ParseSize(in); !errors.As(err, &ie) || ie.Value != in {
			t.Errorf("ParseSize(%q) = %v, want an *InvalidError naming it", in, err)
		}
	}
}

func TestSharesToWeight(t *testing.T) {
	// Numbers runc's ConvertCPUSharesToCgroupV2Value produces.
	for shares, want := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 100: 4, 512: 20, 1024: 39, 2048: 79, 262144: 10000, 1 << 20: 10000} {
		if got := SharesToWeight(shares); got != want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint64]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := BlkioToIOWeight(w); got != want {
			t.Errorf("BlkioToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestKubernetesQuantities(t *testing.T) {
	values := map[string]int64{"512Mi": 536870912, "1G": 1000000000, "1e3": 1000, "1.5Gi": 1610612736,
		"100k": 100000, "0.5": 1, "1Ki": 1024, "128974848": 128974848, "129e6": 129000000, "123Mi": 128974848, "1E-1": 1}
	for in, want := range values {
		q, err := ParseQuantity(in)
		v, ok := q.Value()
		if err != nil || !ok || v != want {
			t.Errorf("Value(%s) = %d, %v; want %d", in, v, err, want)
		}
	}
	millis := map[string]int64{"500m": 500, "1.5": 1500, "0.1": 100, "1": 1000, "2.5m": 3, "1e3": 1000000, ".5": 500, "+2": 2000}
	for in, want := range millis {
		q, err := ParseQuantity(in)
		v, ok := q.MilliValue()
		if err != nil || !ok || v != want {
			t.Errorf("MilliValue(%s) = %d, %v; want %d", in, v, err, want)
		}
	}
	for _, in := range []string{"", "m", "1.2.3", "1mi", "1 Gi", "e3", "1e", "1e+", "1ee3", "abc", "1KiB"} {
		if _, err := ParseQuantity(in); err == nil {
			t.Errorf("ParseQuantity(%q) accepted", in)
		}
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"500m", "1.5", "512Mi", "1G", "1e3", "-1", "1E-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err == nil {
			_, _ = q.Value()
			_, _ = q.MilliValue()
		}
	})
}

func TestKubernetesCPU(t *testing.T) {
	// kubelet: MilliCPUToShares, then getCPUWeight; MilliCPUToQuota.
	tests := []struct {
		req, lim string
		weight   uint64
		quota    time.Duration
	}{
		{"100m", "", 4, 0},
		{"250m", "500m", 10, 50 * time.Millisecond},
		{"1", "1", 39, 100 * time.Millisecond},
		{"2", "1.5", 79, 150 * time.Millisecond},
		{"1m", "5m", 1, time.Millisecond},
		{"0", "", 1, 0},
	}
	for _, tt := range tests {
		c, err := KubernetesCPU(tt.req, tt.lim)
		if err != nil {
			t.Errorf("%s/%s: %v", tt.req, tt.lim, err)
			continue
		}
		if c.Weight != tt.weight {
			t.Errorf("request %s: weight %d, want %d", tt.req, c.Weight, tt.weight)
		}
		if (tt.quota == 0) != (c.Max == nil) || (c.Max != nil && (c.Max.Quota != tt.quota || c.Max.Period != DefaultCPUPeriod)) {
			t.Errorf("limit %s: %+v, want quota %v", tt.lim, c.Max, tt.quota)
		}
	}
	if _, err := KubernetesCPU("-1", ""); err == nil {
		t.Error("negative request accepted")
	}
	m, err := KubernetesMemory("256Mi", "512Mi")
	if err != nil || m.Max != 512<<20 || m.Min != 256<<20 {
		t.Errorf("KubernetesMemory = %+v, %v", m, err)
	}
	if _, err := KubernetesMemory("", "-1Gi"); err == nil {
		t.Error("negative memory accepted")
	}
}

func TestFromOCI(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	dev := func(maj, min int64, rate uint64) specs.LinuxThrottleDevice {
		d := specs.LinuxThrottleDevice{Rate: rate}
		d.Major, d.Minor = maj, min
		return d
	}
	in := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(512 << 20), Swap: i64(1 << 30), Reservation: i64(128 << 20)},
		CPU: &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Burst: u64(0),
			Cpus: "0-1", Mems: "0", Idle: i64(1)},
		Pids: &specs.LinuxPids{Limit: i64(-1)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{dev(8, 0, 1<<20)},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{dev(8, 0, 100), dev(7, 1, 0)}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}, {Pagesize: "1GB", Limit: 1 << 30}},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}},
	}
	got, err := FromOCI(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Resources{
		Memory: &Memory{Max: 512 << 20, Low: 128 << 20, Swap: 512 << 20},
		CPU: &CPU{Weight: 39, Max: &CPUMax{Quota: 50 * time.Millisecond, Period: 100 * time.Millisecond},
			Burst: Zero, Cpus: "0-1", Mems: "0", Idle: On},
		Pids: &Pids{Max: Unlimited},
		IO: &IO{Weight: 4950, Devices: []IODevice{{Major: 8, Minor: 0, Rbps: 1 << 20, Wiops: 100},
			{Major: 7, Minor: 1, Wiops: Unlimited}}},
		HugeTLB: []HugeTLB{{PageSize: "2MB", Max: Zero}, {PageSize: "1GB", Max: 1 << 30}},
		Devices: []DeviceRule{{Type: AllDevices, Major: DeviceWildcard, Minor: DeviceWildcard, Access: DeviceRWM},
			{Type: CharDevice, Major: 1, Minor: 3, Access: DeviceRead | DeviceWrite, Allow: true}},
	}
	assert.Equal(t, want, got)
	// runc's specconv copies the unified map: so does FromOCI.
	uni := map[string]string{"memory.high": "64M", "pids.max": "64"}
	got, err = FromOCI(&specs.LinuxResources{Unified: uni})
	if err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, Resources{Unified: map[string]string{"memory.high": "64M", "pids.max": "64"}}, got)
	uni["pids.max"] = "1"
	if got.Unified["pids.max"] != "64" {
		t.Error("FromOCI's Unified shares the spec's map")
	}
	// runc's swap rules.
	for _, tt := range []struct {
		limit, swap int64
		want        int64
	}{{512, 512, Zero}, {-1, 0, Unlimited}, {512, -1, Unlimited}, {512, 0, 0}, {100, 300, 200}} {
		r, err := FromOCI(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(tt.limit), Swap: i64(tt.swap)}})
		if err != nil || r.Memory.Swap != tt.want {
			t.Errorf("limit %d swap %d: %+v, %v; want swap %d", tt.limit, tt.swap, r.Memory, err, tt.want)
		}
	}
	bad := map[string]*specs.LinuxResources{
		"LinuxMemory.Swap":               {Memory: &specs.LinuxMemory{Limit: i64(512), Swap: i64(256)}},
		"LinuxMemory.KernelTCP":          {Memory: &specs.LinuxMemory{KernelTCP: i64(1)}},
		"LinuxCPU.Idle":                  {CPU: &specs.LinuxCPU{Idle: i64(2)}},
		"LinuxBlockIO.Weight":            {BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}},
		"LinuxResources.Network":         {Network: &specs.LinuxNetwork{}},
		"LinuxResources.Devices[0].Type": {Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}},
	}
	for field, l := range bad {
		_, err := FromOCI(l)
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
}
