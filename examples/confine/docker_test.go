package main

import (
	"errors"
	"testing"
	"time"

	"github.com/confinelab/confine/cgroup"
	"github.com/stretchr/testify/assert"
)

func TestDockerCPUs(t *testing.T) {
	for in, quota := range map[string]int64{"0.5": 50000, "1.5": 150000, "2": 200000, "0.01": 1000, "0.25": 25000} {
		m, err := DockerCPUs(in)
		if err != nil || m.Quota != time.Duration(quota)*time.Microsecond || m.Period != 100*time.Millisecond {
			t.Errorf("--cpus %s = %+v, %v; want %d 100000", in, m, err, quota)
			continue
		}
	}
	for _, in := range []string{"0", "-1", "abc", "0.001", "0.0000000001"} {
		if _, err := DockerCPUs(in); err == nil {
			t.Errorf("--cpus %s accepted", in)
		}
	}
}

func TestDockerFlags(t *testing.T) {
	tests := []struct {
		name string
		f    DockerFlags
		want cgroup.Resources
	}{
		{"memory alone gets equal swap", DockerFlags{Memory: "512m"},
			cgroup.Resources{Memory: &cgroup.Memory{Max: 512 << 20, Swap: 512 << 20}}},
		{"memory-swap total", DockerFlags{Memory: "512m", MemorySwap: "1g"},
			cgroup.Resources{Memory: &cgroup.Memory{Max: 512 << 20, Swap: 512 << 20}}},
		{"memory-swap = memory disables swap", DockerFlags{Memory: "512m", MemorySwap: "512m"},
			cgroup.Resources{Memory: &cgroup.Memory{Max: 512 << 20, Swap: cgroup.Zero}}},
		{"memory-swap -1", DockerFlags{Memory: "1g", MemorySwap: "-1"},
			cgroup.Resources{Memory: &cgroup.Memory{Max: 1 << 30, Swap: cgroup.Unlimited}}},
		{"reservation", DockerFlags{Memory: "1g", MemoryReservation: "256m", MemorySwap: "-1"},
			cgroup.Resources{Memory: &cgroup.Memory{Max: 1 << 30, Low: 256 << 20, Swap: cgroup.Unlimited}}},
		{"cpus and shares", DockerFlags{CPUs: "0.5", CPUShares: "512", CpusetCpus: "0-1"},
			cgroup.Resources{CPU: &cgroup.CPU{Max: &cgroup.CPUMax{Quota: 50 * time.Millisecond, Period: 100 * time.Millisecond}, Weight: 20, Cpus: "0-1"}}},
		{"quota and period", DockerFlags{CPUQuota: "25000", CPUPeriod: "50000"},
			cgroup.Resources{CPU: &cgroup.CPU{Max: &cgroup.CPUMax{Quota: 25 * time.Millisecond, Period: 50 * time.Millisecond}}}},
		{"quota -1", DockerFlags{CPUQuota: "-1"}, cgroup.Resources{CPU: &cgroup.CPU{Max: &cgroup.CPUMax{Quota: cgroup.Unlimited}}}},
		{"pids 0", DockerFlags{PidsLimit: "0"}, cgroup.Resources{Pids: &cgroup.Pids{Max: cgroup.Unlimited}}},
		{"pids 100", DockerFlags{PidsLimit: "100"}, cgroup.Resources{Pids: &cgroup.Pids{Max: 100}}},
		{"io", DockerFlags{BlkioWeight: "500", DeviceReadBps: []string{"/dev/sda:1mb"}, DeviceWriteIOPS: []string{"/dev/sda:100", "/dev/sdb:5"}},
			cgroup.Resources{IO: &cgroup.IO{Weight: 4950, Devices: []cgroup.IODevice{{Path: "/dev/sda", Rbps: 1 << 20, Wiops: 100}, {Path: "/dev/sdb", Wiops: 5}}}}},
		{"nothing", DockerFlags{}, cgroup.Resources{}},
	}
	for _, tt := range tests {
		got, err := tt.f.Resources()
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		assert.Equal(t, tt.want, got, tt.name)
	}
	bad := map[string]DockerFlags{
		"--memory":             {Memory: "4m"},
		"--memory-swap":        {Memory: "512m", MemorySwap: "256m"},
		"--memory-reservation": {Memory: "512m", MemoryReservation: "1g"},
		"--cpus":               {CPUs: "1", CPUQuota: "1000"},
		"--cpu-quota":          {CPUQuota: "500"},
		"--cpu-period":         {CPUPeriod: "2000000"},
		"--cpu-shares":         {CPUShares: "-5"},
		"--pids-limit":         {PidsLimit: "lots"},
		"--blkio-weight":       {BlkioWeight: "5"},
		"--device-read-bps":    {DeviceReadBps: []string{"sda:1m"}},
		"--device-write-iops":  {DeviceWriteIOPS: []string{"/dev/sda:1.5"}},
	}
	for field, f := range bad {
		_, err := f.Resources()
		var ie *cgroup.InvalidError
		if !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%+v: %v, want *cgroup.InvalidError for %s", f, err, field)
		}
	}
	_, err := DockerFlags{MemorySwap: "1g"}.Resources()
	if err == nil {
		t.Error("--memory-swap without --memory accepted")
	}
}
