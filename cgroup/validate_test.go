package cgroup

import (
	"errors"
	"testing"
	"time"
)

func TestValidationRejectsEveryBadField(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		r     Resources
		field string
	}{
		{"quota too small", Resources{CPU: &CPU{Max: &CPUMax{Quota: 999 * time.Microsecond}}}, "CPU.Max.Quota"},
		{"quota negative", Resources{CPU: &CPU{Max: &CPUMax{Quota: -1}}}, "CPU.Max.Quota"},
		{"quota zero", Resources{CPU: &CPU{Max: &CPUMax{Quota: 0}}}, "CPU.Max.Quota"},
		{"quota sub-microsecond", Resources{CPU: &CPU{Max: &CPUMax{Quota: 2*ms + 1}}}, "CPU.Max.Quota"},
		{"period too small", Resources{CPU: &CPU{Max: &CPUMax{Quota: 10 * ms, Period: 999 * time.Microsecond}}}, "CPU.Max.Period"},
		{"period too large", Resources{CPU: &CPU{Max: &CPUMax{Quota: 10 * ms, Period: time.Second + time.Microsecond}}}, "CPU.Max.Period"},
		{"period negative", Resources{CPU: &CPU{Max: &CPUMax{Quota: Unlimited, Period: -ms}}}, "CPU.Max.Period"},
		{"weight too big", Resources{CPU: &CPU{Weight: 10001}}, "CPU.Weight"},
		{"idle bogus", Resources{CPU: &CPU{Idle: 7}}, "CPU.Idle"},
		{"burst negative", Resources{CPU: &CPU{Burst: -ms}}, "CPU.Burst"},
		{"burst sub-microsecond", Resources{CPU: &CPU{Burst: 1}}, "CPU.Burst"},
		{"burst above quota", Resources{CPU: &CPU{Burst: 20 * ms, Max: &CPUMax{Quota: 10 * ms}}}, "CPU.Burst"},
		{"cpus garbage", Resources{CPU: &CPU{Cpus: "0-3,a"}}, "CPU.Cpus"},
		{"cpus descending", Resources{CPU: &CPU{Cpus: "3-1"}}, "CPU.Cpus"},
		{"cpus space", Resources{CPU: &CPU{Cpus: "0, 1"}}, "CPU.Cpus"},
		{"cpus trailing comma", Resources{CPU: &CPU{Cpus: "0,"}}, "CPU.Cpus"},
		{"cpus huge", Resources{CPU: &CPU{Cpus: "99999"}}, "CPU.Cpus"},
		{"mems garbage", Resources{CPU: &CPU{Mems: "-1"}}, "CPU.Mems"},
		{"memory max", Resources{Memory: &Memory{Max: -5}}, "Memory.Max"},
		{"memory high", Resources{Memory: &Memory{High: -1}}, "Memory.High"},
		{"memory low", Resources{Memory: &Memory{Low: -2}}, "Memory.Low"},
		{"memory min", Resources{Memory: &Memory{Min: -3}}, "Memory.Min"},
		{"memory swap", Resources{Memory: &Memory{Swap: -1}}, "Memory.Swap"},
		{"memory oom group", Resources{Memory: &Memory{OOMGroup: 3}}, "Memory.OOMGroup"},
		{"io weight", Resources{IO: &IO{Weight: 10001}}, "IO.Weight"},
		{"io no device", Resources{IO: &IO{Devices: []IODevice{{Rbps: 1}}}}, "IO.Devices[0]"},
		{"io both", Resources{IO: &IO{Devices: []IODevice{{Major: 8, Path: "/dev/sda", Rbps: 1}}}}, "IO.Devices[0].Path"},
		{"io missing path", Resources{IO: &IO{Devices: []IODevice{{Path: "/nonexistent/dev", Rbps: 1}}}}, "IO.Devices[0].Path"},
		{"io not block", Resources{IO: &IO{Devices: []IODevice{{Path: "/dev/null", Rbps: 1}}}}, "IO.Devices[0].Path"},
		{"io rbps", Resources{IO: &IO{Devices: []IODevice{{Major: 8, Rbps: -1}}}}, "IO.Devices[0].Rbps"},
		{"io wbps", Resources{IO: &IO{Devices: []IODevice{{Major: 8, Wbps: Zero}}}}, "IO.Devices[0].Wbps"},
		{"io riops", Resources{IO: &IO{Devices: []IODevice{{Major: 8, Riops: -9}}}}, "IO.Devices[0].Riops"},
		{"io wiops second", Resources{IO: &IO{Devices: []IODevice{{Major: 8, Wiops: 1}, {Major: 8, Wiops: -1}}}}, "IO.Devices[1].Wiops"},
		{"pids", Resources{Pids: &Pids{Max: -16}}, "Pids.Max"},
		{"hugetlb size", Resources{HugeTLB: []HugeTLB{{PageSize: "4KB", Max: 1}}}, "HugeTLB[0].PageSize"},
		{"hugetlb max", Resources{HugeTLB: []HugeTLB{{PageSize: "2MB", Max: -1}}}, "HugeTLB[0].Max"},
		// A bad field after good ones: nothing of the good ones is written.
		{"late bad field", Resources{CPU: &CPU{Weight: 50}, Memory: &Memory{Max: 1 << 20}, Pids: &Pids{Max: -1}}, "Pids.Max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRoot(t, false)
			f.cg.boundary = f.root
			before := f.snapshotTree(t)
			err := f.cg.Apply(tt.r)
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Apply: %v, want *InvalidError", err)
			}
			if ie.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", ie.Field, tt.field, err)
			}
			if len(f.log) != 0 {
				t.Errorf("wrote %q", f.log)
			}
			if d := diffTrees(before, f.snapshotTree(t)); len(d) != 0 {
				t.Errorf("files changed: %q", d)
			}
			// New validates before making any directory.
			if _, err := newIn(f.h, "parent/new", tt.r); !errors.As(err, &ie) || exists(f.parent+"/new") {
				t.Errorf("newIn: %v (dir exists: %v)", err, exists(f.parent+"/new"))
			}
		})
	}
}

func TestInvalidErrorMessage(t *testing.T) {
	f := newFakeRoot(t, true)
	err := f.cg.Apply(Resources{Memory: &Memory{Max: -5}})
	if want := "cgroup: Memory.Max: -5: must be >= 0, Zero or Unlimited"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestValidValuesAccepted(t *testing.T) {
	f := newFakeRoot(t, true)
	ok := []Resources{
		{CPU: &CPU{Max: &CPUMax{Quota: Unlimited}}},
		{CPU: &CPU{Max: &CPUMax{Quota: time.Millisecond, Period: time.Millisecond}}},
		{CPU: &CPU{Max: &CPUMax{Quota: 4 * time.Second, Period: time.Second}, Burst: Zero}},
		{CPU: &CPU{Weight: 1, Idle: On, Cpus: "0", Mems: "0-0,1"}},
		{Memory: &Memory{Max: Unlimited, High: Unlimited, Low: Zero, Min: Zero, Swap: Unlimited, OOMGroup: Off}},
		{IO: &IO{Weight: 10000, Devices: []IODevice{{Major: 7, Minor: 3, Rbps: Unlimited}}}},
		{Pids: &Pids{Max: Zero}},
	}
	for i, r := range ok {
		if err := f.cg.Apply(r); err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0-3,5", "0", "1-1,2-9", "3-1", "0,", ",", "a-b", "99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := parseCPUList(s, func(lo, hi int) {
			if lo > hi || lo < 0 || hi >= maxCPUIndex {
				t.Fatalf("%q: bad range %d-%d accepted", s, lo, hi)
			}
		})
		if err == nil && (s == "" || s[len(s)-1] == ',' || s[0] == ',') {
			t.Fatalf("%q accepted", s)
		}
	})
}
