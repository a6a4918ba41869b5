package cgroup

import (
	"errors"
	"os"
	"testing"
)

const hybridMountinfo = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 22 0:50 / /mnt/my\040cg rw - cgroup2 none rw,nsdelegate
`

const procCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
cpu	1	1	1
memory	4	29	1
net_cls	0	1	1
hugetlb	0	1	1
pids	8	1	0
`

func TestParseMountinfo(t *testing.T) {
	mt := parseMountinfo([]byte(hybridMountinfo))
	if len(mt.unified) != 2 || mt.unified[0] != "/sys/fs/cgroup/unified" || mt.unified[1] != "/mnt/my cg" {
		t.Errorf("unified = %q", mt.unified)
	}
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu", "cpuset": "/sys/fs/cgroup/cpuset", "memory": "/sys/fs/cgroup/memory",
		"net_cls": "/sys/fs/cgroup/net_cls,net_prio", "net_prio": "/sys/fs/cgroup/net_cls,net_prio",
	}
	if len(mt.v1) != len(want) {
		t.Errorf("v1 = %v", mt.v1)
	}
	for k, v := range want {
		if mt.v1[k] != v {
			t.Errorf("v1[%s] = %q, want %q", k, mt.v1[k], v)
		}
	}
	if got := pickUnified(mt.unified); got != "/sys/fs/cgroup/unified" {
		t.Errorf("pickUnified = %q", got)
	}
	pure := parseMountinfo([]byte("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"))
	if len(pure.v1) != 0 || pickUnified(pure.unified) != "/sys/fs/cgroup" {
		t.Errorf("pure v2: %+v", pure)
	}
}

func TestParseProcCgroups(t *testing.T) {
	got := parseProcCgroups([]byte(procCgroups))
	if len(got) != 3 || !got["cpuset"] || !got["cpu"] || !got["memory"] {
		t.Errorf("bound = %v (hugetlb and net_cls are on v2, pids is disabled)", got)
	}
}

func TestHugeName(t *testing.T) {
	for in, want := range map[string]string{"2048": "2MB", "1048576": "1GB", "64": "64KB", "0": "", "x": "", "16384": "16MB"} {
		if got := hugeName(in); got != want {
			t.Errorf("hugeName(%s) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte(hybridMountinfo))
	f.Add([]byte("1 2 3 4 5 - cgroup x \\0"))
	f.Add([]byte(" - \n - - -\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mt := parseMountinfo(b)
		for k := range mt.v1 {
			if k == "" {
				t.Fatal("empty controller name")
			}
		}
		_ = pickUnified(mt.unified)
	})
}

func FuzzParseProcCgroups(f *testing.F) {
	f.Add([]byte(procCgroups))
	f.Add([]byte("a 1 1 1\n#x\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range parseProcCgroups(b) {
			if k == "" {
				t.Fatal("empty controller name")
			}
		}
	})
}

// TestDetectHost checks detection on the machine running the tests: on a
// hybrid host memory must be reported as v1-bound.
func TestDetectHost(t *testing.T) {
	h, err := Detect()
	if err != nil {
		if errors.Is(err, ErrNotSupported) {
			t.Skip("no cgroup v2 here:", err)
		}
		t.Fatal(err)
	}
	if _, err := os.Stat(h.Root + "/cgroup.controllers"); err != nil {
		t.Fatalf("root %s: %v", h.Root, err)
	}
	if h.Hybrid {
		if _, ok := h.V1["memory"]; !ok {
			t.Errorf("hybrid host but memory not reported as v1-bound: %+v", h)
		}
		err := h.checkControllers([]string{"memory"})
		var v1 *V1BoundError
		if !errors.As(err, &v1) {
			t.Errorf("checkControllers(memory) = %v", err)
		}
	}
}
