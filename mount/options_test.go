package mount

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/confinelab/confine/cgroup"
	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "64m": 64 << 20, "64M": 64 << 20, "1g": 1 << 30,
		"65536k": 64 << 20, "2t": 2 << 40, "64mb": 64 << 20, "10b": 10,
		"1.5g": 1536 << 20, "64KiB": 64 << 10, "1p": 1 << 50,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1", "+5", "1x", "64mbb", "99999999999999t", "0x10"} {
		var ce *InvalidError
		if _, err := ParseSize(in); !errors.As(err, &ce) || ce.Value != in {
			t.Errorf("ParseSize(%q): got %v, want *InvalidError", in, err)
		}
	}
}

// --tmpfs size= and --memory read one grammar: mount and cgroup accept
// and refuse the same sizes, with the same values.
func TestParseSizeOneGrammar(t *testing.T) {
	for _, in := range []string{"0", "100", "512m", "1.5g", "64KiB", "2 GB", "1p", "0.5k",
		"", "-1", "1x", "1.2.3", "1e3", "9999999999p", "64mbb"} {
		m, merr := ParseSize(in)
		c, cerr := cgroup.ParseSize(in)
		if m != c || (merr == nil) != (cerr == nil) {
			t.Errorf("%q: mount %d, %v; cgroup %d, %v", in, m, merr, c, cerr)
		}
	}
}

func TestParseOptions(t *testing.T) {
	po, err := parseOptions("f", "tmpfs", []string{"ro", "nosuid", "exec", "size=64m", "mode=1777", "nr_inodes=10"})
	if err != nil {
		t.Fatal(err)
	}
	if po.set != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID || po.clr != unix.MOUNT_ATTR_NOEXEC {
		t.Errorf("attrs set %#x clr %#x", po.set, po.clr)
	}
	want := []fsParam{{"size", "67108864"}, {"mode", "01777"}, {"nr_inodes", "10"}}
	assert.Equal(t, want, po.params)
	// Later options win, like mount(8).
	if po, _ := parseOptions("f", "bind", []string{"ro", "rw", "bind"}); po.set != 0 || po.recursive {
		t.Errorf("ro,rw,bind: %+v", po)
	}
	bad := []struct{ typ, opt string }{
		{"tmpfs", "size=abc"}, {"tmpfs", "size=0%"}, {"tmpfs", "size=101%"},
		{"tmpfs", "mode=9"}, {"tmpfs", "mode=17777"}, {"tmpfs", "uid=-1"},
		{"proc", "size=1m"}, {"bind", "size=1m"}, {"bind", "hidepid=2"},
		{"tmpfs", "rbind"}, {"tmpfs", "Bad"}, {"tmpfs", ""}, {"tmpfs", "x=a\x00b"},
		{"tmpfs", "=1"}, {"dev", "mode=755"}, {"tmpfs", "mode="},
	}
	for _, b := range bad {
		var ce *InvalidError
		_, err := parseOptions("Mounts[0].Options", b.typ, []string{b.opt})
		if !errors.As(err, &ce) || ce.Field != "Mounts[0].Options" || ce.Value != b.opt {
			t.Errorf("%s %q: got %v, want *InvalidError", b.typ, b.opt, err)
		}
	}
	if po, err := parseOptions("f", "proc", []string{"hidepid=invisible", "subset=pid"}); err != nil || len(po.params) != 2 {
		t.Errorf("proc passthrough: %v %v", po, err)
	}
}

func TestParseTmpfsAndVolume(t *testing.T) {
	m, err := ParseTmpfs("/run/x/:size=64m,mode=1777,exec")
	if err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, Mount{Source: "tmpfs", Target: "/run/x", Type: "tmpfs",
		Options: []string{"nosuid", "nodev", "noexec", "size=64m", "mode=1777", "exec"}}, m)
	v, err := ParseVolume("/data:/mnt/data:ro")
	if err != nil || v.Source != "/data" || v.Target != "/mnt/data" || v.Options[len(v.Options)-1] != "ro" {
		t.Errorf("ParseVolume: %+v %v", v, err)
	}
	for _, s := range []string{"rel:/x", "/x", "/x:rel", "/x:/y:size=1m", "/x:/y:bogus"} {
		if _, err := ParseVolume(s); err == nil {
			t.Errorf("ParseVolume(%q) accepted", s)
		}
	}
	for _, s := range []string{"", "tmp", "/tmp:size=x", "/tmp:rbind"} {
		if _, err := ParseTmpfs(s); err == nil {
			t.Errorf("ParseTmpfs(%q) accepted", s)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		r     Root
		field string
	}{
		{Root{Path: "rel"}, "Path"},
		{Root{Propagation: "public"}, "Propagation"},
		{Root{Mounts: []Mount{{Type: "ext4", Target: "/x"}}}, "Mounts[0].Type"},
		{Root{Mounts: []Mount{Proc("/proc"), Tmpfs("x", 0, 0, 0)}}, "Mounts[1].Target"},
		{Root{Mounts: []Mount{Bind("", "/x", ReadOnly)}}, "Mounts[0].Source"},
		{Root{Mounts: []Mount{Tmpfs("/a/..", 0, 0, 0)}}, "Mounts[0].Target"},
		{Root{Mounts: []Mount{Proc("/proc"), {Type: "tmpfs", Source: "a\x00b", Target: "/t"}}}, "Mounts[1].Source"},
		{Root{Mounts: []Mount{{Type: "proc", Source: strings.Repeat("p", 4096), Target: "/proc"}}}, "Mounts[0].Source"},
		{Root{Mounts: []Mount{{Type: "tmpfs", Target: "/t", Options: []string{"mode=8"}}}}, "Mounts[0].Options"},
		{Root{MaskedPaths: []string{"/ok", "proc/kcore"}}, "MaskedPaths[1]"},
		{Root{ReadonlyPaths: []string{"/a\x00"}}, "ReadonlyPaths[0]"},
	}
	for _, c := range cases {
		var ce *InvalidError
		if err := c.r.Validate(); !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: got %v, want field %s", c.r, err, c.field)
		} else if !strings.HasPrefix(err.Error(), "mount: "+c.field) {
			t.Errorf("message %q does not start with the field", err)
		}
	}
	r := Root{Mounts: []Mount{Bind("/a", "/b", ReadOnly), Tmpfs("/t", 1<<20, 0o1777, NoSuid|NoDev|NoExec|ReadOnly),
		Proc("/proc"), Sysfs("/sys"), Devpts("/dev/pts"), Mqueue("/dev/mqueue"), Cgroup2("/sys/fs/cgroup", true), Dev("/dev")},
		MaskedPaths: DefaultMaskedPaths(), ReadonlyPaths: DefaultReadonlyPaths()}
	if err := r.Validate(); err != nil {
		t.Errorf("constructors produce invalid mounts: %v", err)
	}
}

// Root must survive a JSON round trip: package namespace sends it to its
// re-executed init that way.
func TestRootJSONRoundTrip(t *testing.T) {
	r := standardRoot("/some/root")
	r.Mounts = append(r.Mounts, Bind("/src", "/dst", ReadOnly))
	r.Propagation = "rslave"
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back Root
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, r, back, "round trip changed the root")
}

func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{"size=64m,mode=1777,ro,nosuid", "rbind,ro", "hidepid=2", "size=50%", ",", "mode=0", "x=,y"} {
		f.Add("tmpfs", s)
		f.Add("bind", s)
	}
	f.Fuzz(func(t *testing.T, typ, s string) {
		opts, err := ParseOptions(typ, s)
		if err != nil {
			var ce *InvalidError
			if !errors.As(err, &ce) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Whatever is accepted is safe to hand to fsconfig.
		po, err := parseOptions("f", typ, opts)
		if err != nil {
			t.Fatalf("accepted then rejected: %v", err)
		}
		for _, p := range po.params {
			if strings.ContainsAny(p.Key+p.Value, ",\x00\n") || !validKey(p.Key) {
				t.Fatalf("unsafe parameter %q", p)
			}
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64m", "1g", "0", "9223372036854775807", "8e", "1kb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}

func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"/a:/b", "/a:/b:ro", "/a:/b:rw,nosuid", "a:b", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseVolume(s)
		if err != nil {
			return
		}
		if _, err := m.validate(0); err != nil {
			t.Fatalf("ParseVolume(%q) produced an invalid mount: %v", s, err)
		}
	})
}

func TestMountTableQueries(t *testing.T) {
	if ok, err := Mounted("/proc"); err != nil || !ok {
		t.Errorf("Mounted(/proc) = %v, %v", ok, err)
	}
	if ok, err := Mounted(t.TempDir()); err != nil || ok {
		t.Errorf("Mounted(tempdir) = %v, %v", ok, err)
	}
	infos, err := MountsUnder("/proc/")
	if err != nil || len(infos) == 0 || infos[0].FSType != "proc" {
		t.Errorf("MountsUnder(/proc) = %v, %v", infos, err)
	}
}

func TestDeviceCheck(t *testing.T) {
	dir := t.TempDir()
	old := hostDevDir
	defer func() { hostDevDir = old }()
	hostDevDir = dir
	if err := writeFile(dir + "/null"); err != nil {
		t.Fatal(err)
	}
	var de *DeviceError
	if _, err := openDevice(minimalDevices[0]); !errors.As(err, &de) || de.Got != "regular file" {
		t.Errorf("regular file as /dev/null: %v", err)
	}
	hostDevDir = "/dev"
	fd, err := openDevice(minimalDevices[0])
	if err != nil {
		t.Fatalf("host /dev/null: %v", err)
	}
	unix.Close(fd)
	// /dev/zero is not 1:3.
	if _, err := openDevice(device{"zero", 1, 3}); !errors.As(err, &de) || de.Got != "char 1:5" {
		t.Errorf("zero as null: %v", err)
	}
}

func writeFile(p string) error {
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func FuzzParseTmpfs(f *testing.F) {
	for _, s := range []string{"/tmp", "/run:size=64m,mode=1777", "/:size=1", "/x:exec,ro", "x:y:z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseTmpfs(s)
		if err != nil {
			return
		}
		if _, err := m.validate(0); err != nil {
			t.Fatalf("ParseTmpfs(%q) produced an invalid mount: %v", s, err)
		}
	})
}
