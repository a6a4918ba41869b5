package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/confinelab/confine/cgroup"
)

func TestParseRunArgs(t *testing.T) {
	o, err := parseRunArgs([]string{"--memory=512m", "-e", "A=1", "-eB=2", "--read-only",
		"--tmpfs", "/tmp:size=64m", "-v", "/srv:/data:ro", "--network", "host", "-u", "1000:100",
		"--cpus", "0.5", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "--egress-rate", "10mbit",
		"--security-opt", "no-new-privileges", "--", "sh", "-c", "true"})
	if err != nil {
		t.Fatal(err)
	}
	if o.docker.Memory != "512m" || !o.readOnly || o.network != "host" || len(o.mounts) != 2 ||
		o.user.UID != 1000 || o.user.GID != 100 || !o.noNewPrivs || o.egressRate != 10_000_000 {
		t.Fatalf("parsed %+v", o)
	}
	if got := strings.Join(o.command, " "); got != "sh -c true" {
		t.Fatalf("command %q", got)
	}
	if o.resources.Memory.Max != 512<<20 || o.resources.CPU.Max.Quota.Microseconds() != 50000 {
		t.Fatalf("resources %+v %+v", o.resources.Memory, o.resources.CPU.Max)
	}
	caps, _ := o.capSet()
	if caps.String() != "CAP_NET_RAW" {
		t.Fatalf("caps %s", caps)
	}
	if o.controllers["memory"] != "--memory" || o.controllers["cpu"] != "--cpus" {
		t.Fatalf("controllers %v", o.controllers)
	}
	env := strings.Join(o.environ(), " ")
	if !strings.Contains(env, "A=1") || !strings.Contains(env, "B=2") || !strings.Contains(env, "PATH=/usr/local/sbin") {
		t.Fatalf("env %s", env)
	}
}

func TestParseRunArgsCommandStopsFlags(t *testing.T) {
	o, err := parseRunArgs([]string{"ls", "--memory", "1g"})
	if err != nil {
		t.Fatal(err)
	}
	if o.docker.Memory != "" || len(o.command) != 3 {
		t.Fatalf("flags after the command must belong to it: %+v", o)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--memory", "12x", "true"}, "--memory"},
		{[]string{"-m", "1k", "true"}, "-m"},
		{[]string{"--memory-swap", "1g", "true"}, "--memory-swap"},
		{[]string{"--cpus", "-1", "true"}, "--cpus"},
		{[]string{"--cpus", "0.001", "true"}, "--cpus"},
		{[]string{"--cpu-shares", "x", "true"}, "--cpu-shares"},
		{[]string{"--cpuset-cpus", "3-1", "true"}, "--cpuset-cpus"},
		{[]string{"--pids-limit", "ten", "true"}, "--pids-limit"},
		{[]string{"--device-read-bps", "sda:1mb", "true"}, "--device-read-bps"},
		{[]string{"--egress-rate", "fast", "true"}, "--egress-rate"},
		{[]string{"--ingress-rate", "10", "true"}, "--ingress-rate"},
		{[]string{"--tmpfs", "rel", "true"}, "--tmpfs"},
		{[]string{"-v", "/a", "true"}, "-v"},
		{[]string{"--network", "bridge", "true"}, "--network"},
		{[]string{"--network", "ns:rel", "true"}, "--network"},
		{[]string{"-u", "a:b", "true"}, "-u"},
		{[]string{"--hostname", "a b", "true"}, "--hostname"},
		{[]string{"--security-opt", "seccomp", "true"}, "--security-opt"},
		{[]string{"--security-opt", "seccomp=/nonexistent.json", "true"}, "--security-opt"},
		{[]string{"--security-opt", "apparmor=x", "true"}, "--security-opt"},
		{[]string{"--cap-add", "FLY", "true"}, "--cap-add"},
		{[]string{"--device", "/etc/passwd", "true"}, "--device"},
		{[]string{"--cgroup-parent", "../x", "true"}, "--cgroup-parent"},
		{[]string{"-w", "rel", "true"}, "-w"},
		{[]string{"--read-only=maybe", "true"}, "--read-only"},
		{[]string{"--bogus", "true"}, "--bogus"},
		{[]string{"--memory"}, "--memory"},
		{[]string{"--read-only"}, "COMMAND"},
	} {
		_, err := parseRunArgs(tc.args)
		var fe *FlagError
		if !errors.As(err, &fe) {
			t.Errorf("%v: got %v, want a *FlagError", tc.args, err)
			continue
		}
		if fe.Flag != tc.flag || strings.Contains(fe.Error(), "\n") {
			t.Errorf("%v: error %q names %q, want %q on one line", tc.args, fe, fe.Flag, tc.flag)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{32 << 20: "32MiB", 1 << 30: "1GiB", 1536 << 10: "1536KiB", 100: "100B", 6<<20 + 1: "6291457B"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCheckControllers(t *testing.T) {
	h := &cgroup.Hierarchy{Root: "/sys/fs/cgroup/unified", Controllers: []string{"hugetlb"},
		V1: map[string]string{"memory": "/sys/fs/cgroup/memory"}}
	o, err := parseRunArgs([]string{"--memory", "32m", "true"})
	if err != nil {
		t.Fatal(err)
	}
	err = checkControllers(h, o)
	if err == nil || !strings.HasPrefix(err.Error(), "--memory: cannot be honoured") || !strings.Contains(err.Error(), "cgroup v1") {
		t.Fatalf("got %v", err)
	}
	o, _ = parseRunArgs([]string{"--pids-limit", "5", "true"})
	if err := checkControllers(h, o); err == nil || !strings.Contains(err.Error(), "--pids-limit") {
		t.Fatalf("got %v", err)
	}
	o, _ = parseRunArgs([]string{"--egress-rate", "1mbit", "true"})
	if err := checkControllers(h, o); err != nil {
		t.Fatalf("network limits need no controller: %v", err)
	}
}

func TestRunCgroupName(t *testing.T) {
	for name, want := range map[string]string{"confine-123-0a1b2c3d": "123", "confine-123-0A1B2C3D": "",
		"confine-x-0a1b2c3d": "", "confine": "", "other-1-0a1b2c3d": "", "confine--0a1b2c3d": "",
		"confine-1-0a1b2c3d0": "", "confine-1-0a1b2c3": "", "confine-1-2-0a1b2c3d": "", "confine-١-0a1b2c3d": ""} {
		if got, ok := runCgroupOwner(name); got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", name, got, ok, want)
		}
	}
}

// FuzzParseRunArgs checks that no command line makes the parser panic and
// that every refusal is a one-line *FlagError.
func FuzzParseRunArgs(f *testing.F) {
	for _, s := range []string{"--memory 512m true", "-v /a:/b:ro -e A=1 sh", "--cpus 0.5 --", "-m", "--device-read-bps /dev/sda:1mb x",
		"--network ns:/proc/1/ns/net x", "--user 0:0 --tmpfs /t:size=1m,mode=1777 x", "--read-only=true -- -x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Fields(s)
		for _, a := range args {
			if strings.Contains(a, "seccomp=") || strings.HasPrefix(a, "--rootfs") || strings.HasPrefix(a, "--device=") {
				return // these read host files
			}
		}
		_, err := parseRunArgs(args)
		var fe *FlagError
		if err != nil && (!errors.As(err, &fe) || strings.Contains(err.Error(), "\n")) {
			t.Fatalf("%q: %v", s, err)
		}
	})
}

func TestRunHelp(t *testing.T) {
	var out, errb strings.Builder
	if code := runCommand([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"Usage: confine run", "Filesystem:", "Resources (cgroup v2):", "Security:",
		"-m, --memory SIZE", "(default none)", "--egress-rate RATE", "bits/s", "Exit status:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, f := range runFlags {
		if !strings.Contains(out.String(), "--"+f.long) {
			t.Errorf("help lacks --%s", f.long)
		}
	}
}
