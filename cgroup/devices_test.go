package cgroup

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/devfilter"
	"github.com/confinelab/confine/internal/testutil"
)

func init() { testutil.RegisterHelper("devopen", helperDevOpen) }

// helperDevOpen opens each argument path read-write and prints the errno
// number (0 on success), one per line.
func helperDevOpen(args []string) int {
	for _, p := range args {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err == nil {
			unix.Close(fd)
		}
		var errno unix.Errno
		errors.As(err, &errno)
		fmt.Println(int(errno))
	}
	return 0
}

func TestValidateDevices(t *testing.T) {
	w := DeviceWildcard
	for _, tc := range []struct {
		rule  DeviceRule
		field string
	}{
		{DeviceRule{Type: 'x', Major: 1, Minor: 1, Access: DeviceRead}, "Devices[0].Type"},
		{DeviceRule{Major: 1, Minor: 1, Access: DeviceRead}, "Devices[0].Type"},
		{AllowDevice(CharDevice, -2, 1, DeviceRead), "Devices[0].Major"},
		{AllowDevice(CharDevice, 4096, 1, DeviceRead), "Devices[0].Major"},
		{AllowDevice(CharDevice, 1, -5, DeviceRead), "Devices[0].Minor"},
		{AllowDevice(CharDevice, 1, 1<<20, DeviceRead), "Devices[0].Minor"},
		{AllowDevice(CharDevice, 1, 1, 0), "Devices[0].Access"},
		{AllowDevice(CharDevice, 1, 1, 8), "Devices[0].Access"},
		{AllowDevice(BlockDevice, w, w, DeviceRWM|16), "Devices[0].Access"},
	} {
		err := validateDevices([]DeviceRule{tc.rule})
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%+v: error %v, want *InvalidError for %s", tc.rule, err, tc.field)
		}
	}
	err := validateDevices(append(DefaultDevices(), DeviceRule{Type: 'b', Major: 1, Minor: 1}))
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Field != "Devices[11].Access" {
		t.Errorf("index not reported: %v", err)
	}
	if err := validateDevices(DefaultDevices()); err != nil {
		t.Errorf("DefaultDevices invalid: %v", err)
	}
	if err := validateDevices(make([]DeviceRule, devfilter.MaxRules+1)); err == nil {
		t.Error("too many rules accepted")
	}
}

func TestDeviceAccessString(t *testing.T) {
	for _, s := range []string{"r", "w", "m", "rw", "rwm"} {
		a, err := ParseDeviceAccess(s)
		if err != nil || a.String() != s {
			t.Errorf("ParseDeviceAccess(%q) = %v (%q), %v", s, a, a.String(), err)
		}
	}
	for _, s := range []string{"", "rr", "x", "rwmx"} {
		if _, err := ParseDeviceAccess(s); err == nil {
			t.Errorf("ParseDeviceAccess(%q) accepted", s)
		}
	}
}

// TestDefaultDevicesDecisions checks the allowlist through the same
// evaluator the program is tested against.
func TestDefaultDevicesDecisions(t *testing.T) {
	rules := toFilter(DefaultDevices())
	for _, tc := range []struct {
		typ      devfilter.Type
		maj, min uint32
		acc      devfilter.Access
		want     bool
	}{
		{devfilter.TypeChar, 1, 3, devfilter.AccRead | devfilter.AccWrite, true},
		{devfilter.TypeChar, 136, 42, devfilter.AccRead | devfilter.AccWrite, true},
		{devfilter.TypeChar, 5, 2, devfilter.AccRead, true},
		{devfilter.TypeChar, 10, 200, devfilter.AccRead, false}, // tun: not default
		{devfilter.TypeBlock, 8, 0, devfilter.AccRead, false},
		{devfilter.TypeBlock, 8, 0, devfilter.AccMknod, true},
		{devfilter.TypeChar, 1, 1, devfilter.AccRead, false}, // /dev/mem
	} {
		if got := devfilter.Evaluate(rules, tc.typ, tc.maj, tc.min, tc.acc); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc, got, tc.want)
		}
	}
}

func openTemp(t *testing.T) *Cgroup {
	t.Helper()
	c, err := Open(testutil.TempCgroup(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runIn starts the helper inside c (CLONE_INTO_CGROUP) and returns its
// output.
func runIn(t *testing.T, c *Cgroup, helper string, args ...string) string {
	t.Helper()
	cmd := testutil.HelperCommand(t, helper, args...)
	cmd.SysProcAttr = childInto(c)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v", helper, err)
	}
	return strings.TrimSpace(string(out))
}

// TestDevicesEnforced: a child in a cgroup that allows /dev/null and
// denies /dev/zero gets EPERM only for /dev/zero; after deleteDevices both
// open; 100 updates leave exactly one program.
func TestDevicesEnforced(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeaks(t)
	c := openTemp(t)
	rules := []DeviceRule{AllowDevice(CharDevice, 1, 3, DeviceRWM), DenyDevice(CharDevice, 1, 5, DeviceRWM)}
	if err := c.applyDevices(rules); err != nil {
		t.Fatal(err)
	}
	defer c.deleteDevices()
	if got, want := runIn(t, c, "devopen", "/dev/null", "/dev/zero"), fmt.Sprintf("0\n%d", int(unix.EPERM)); got != want {
		t.Fatalf("open results %q, want %q", got, want)
	}
	// Updates allow every 1:* device but deny one, alternately /dev/zero
	// and /dev/null; the last (i=99) denies /dev/null.
	rules[0].Minor = DeviceWildcard
	for i := range 100 {
		rules[1].Minor = []int64{5, 3}[i%2]
		if err := c.applyDevices(rules); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	ids, err := devfilter.Attached(c.Path())
	if err != nil || len(ids) != 1 {
		t.Fatalf("after 100 updates: %d programs (%v), want 1", len(ids), err)
	}
	if got, want := runIn(t, c, "devopen", "/dev/null", "/dev/zero"), fmt.Sprintf("%d\n0", int(unix.EPERM)); got != want {
		t.Fatalf("after updates: open results %q, want %q", got, want)
	}
	if err := c.deleteDevices(); err != nil {
		t.Fatal(err)
	}
	if ids, _ := devfilter.Attached(c.Path()); len(ids) != 0 {
		t.Fatalf("%d programs after deleteDevices", len(ids))
	}
	if err := c.applyDevices(nil); err != nil {
		t.Fatal(err)
	}
	if ids, _ := devfilter.Attached(c.Path()); len(ids) != 0 {
		t.Fatal("applyDevices(nil) attached a program")
	}
}

// childInto makes a command start inside c (clone3 CLONE_INTO_CGROUP).
func childInto(c *Cgroup) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.FD()}
}

// BenchmarkApplyDevices measures one rule update: generate and load the
// program for Docker's default list, attach it, detach the previous one.
func BenchmarkApplyDevices(b *testing.B) {
	testutil.RequireRoot(b)
	c, err := Open(testutil.TempCgroup(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	defer c.deleteDevices()
	rules := DefaultDevices()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.applyDevices(rules); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDevicesEmptyDeniesAll: an empty, non-nil rule list denies every
// device, even /dev/null.
func TestDevicesEmptyDeniesAll(t *testing.T) {
	testutil.RequireRoot(t)
	c := openTemp(t)
	if err := c.applyDevices([]DeviceRule{}); err != nil {
		t.Fatal(err)
	}
	defer c.deleteDevices()
	if got, want := runIn(t, c, "devopen", "/dev/null"), fmt.Sprint(int(unix.EPERM)); got != want {
		t.Fatalf("open /dev/null: errno %s, want %s", got, want)
	}
}

// FuzzParseDeviceAccess: never panics; what parses prints back to a string
// that parses to the same value, using each of r, w, m at most once.
func FuzzParseDeviceAccess(f *testing.F) {
	for _, s := range []string{"r", "rw", "rwm", "mwr", "", "rr", "x", "rwmx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseDeviceAccess(s)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("%q: untyped error %v", s, err)
			}
			return
		}
		if a == 0 || a&^DeviceRWM != 0 || len(s) > 3 {
			t.Fatalf("%q parsed to %#x", s, a)
		}
		b, err := ParseDeviceAccess(a.String())
		if err != nil || b != a {
			t.Fatalf("%q -> %q -> %v, %v", s, a.String(), b, err)
		}
	})
}
