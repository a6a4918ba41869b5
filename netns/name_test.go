package netns_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/confinelab/confine/namespace"
	"github.com/confinelab/confine/netns"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"confine-test-1", true},
		{"with.dot_and-dash", true},
		{"ünïcode", true},
		{strings.Repeat("x", 255), true},
		{"", false},
		{strings.Repeat("x", 256), false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"/abs", false},
		{"../escape", false},
		{"sp ace", false},
		{"tab\t", false},
		{"nul\x00", false},
		{"bell\a", false},
		{"bad\xffutf8", false},
	} {
		err := netns.ValidateName(tc.name)
		if tc.ok != (err == nil) {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		var ne *netns.InvalidError
		if err != nil && (!errors.As(err, &ne) || ne.Field != "name" || ne.Value != tc.name) {
			t.Errorf("ValidateName(%q): error %v is not a *InvalidError naming it", tc.name, err)
		}
	}
}

// Invalid names are refused before touching the kernel, by every entry
// point taking a name (no root needed: nothing is created).
func TestNameCheckedFirst(t *testing.T) {
	for _, name := range []string{"", "a/b", "..", "x y"} {
		var ne *netns.InvalidError
		if _, err := netns.Create(name); !errors.As(err, &ne) {
			t.Errorf("Create(%q) = %v, want *InvalidError", name, err)
		}
		if err := netns.Delete(name); !errors.As(err, &ne) {
			t.Errorf("Delete(%q) = %v, want *InvalidError", name, err)
		}
		if _, err := netns.OpenName(name); !errors.As(err, &ne) {
			t.Errorf("OpenName(%q) = %v, want *InvalidError", name, err)
		}
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "", ".", "..", "a/b", "x y", "\x00", "ü", strings.Repeat("z", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := netns.ValidateName(name)
		if err == nil {
			// An accepted name is exactly one harmless path component.
			if name == "" || name == "." || name == ".." || len(name) > 255 ||
				strings.ContainsAny(name, "/\x00 \t\n") {
				t.Fatalf("accepted %q", name)
			}
			return
		}
		var ne *netns.InvalidError
		if !errors.As(err, &ne) || ne.Value != name || !strings.Contains(err.Error(), "netns: name") {
			t.Fatalf("ValidateName(%q) = %v: not a *InvalidError for it", name, err)
		}
	})
}

func TestVethValidation(t *testing.T) {
	cur := current(t)
	good := func() netns.Veth {
		return netns.Veth{
			A: netns.VethEnd{Netns: cur, Name: "va", Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.1/24")}},
			B: netns.VethEnd{Netns: cur, Name: "vb"},
		}
	}
	closed, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	for _, tc := range []struct {
		field string
		edit  func(v *netns.Veth)
	}{
		{"Veth.MTU", func(v *netns.Veth) { v.MTU = 67 }},
		{"Veth.MTU", func(v *netns.Veth) { v.MTU = 70000 }},
		{"Veth.A.Netns", func(v *netns.Veth) { v.A.Netns = nil }},
		{"Veth.B.Netns", func(v *netns.Veth) { v.B.Netns = closed }},
		{"Veth.A.Name", func(v *netns.Veth) { v.A.Name = "" }},
		{"Veth.A.Name", func(v *netns.Veth) { v.A.Name = "sixteen-chars-xx" }},
		{"Veth.B.Name", func(v *netns.Veth) { v.B.Name = "a:b" }},
		{"Veth.B.Name", func(v *netns.Veth) { v.B.Name = "a b" }},
		{"Veth.B.Name", func(v *netns.Veth) { v.B.Name = "va" }},
		{"Veth.A.Addrs[1]", func(v *netns.Veth) { v.A.Addrs = append(v.A.Addrs, netip.Prefix{}) }},
		{"Veth.A.Addrs[1]", func(v *netns.Veth) {
			v.A.Addrs = append(v.A.Addrs, netip.MustParsePrefix("::ffff:10.0.0.1/120"))
		}},
		{"Veth.B.Routes[0].Dst", func(v *netns.Veth) {
			v.B.Routes = []netns.Route{{Dst: netip.MustParsePrefix("10.1.2.3/16")}}
		}},
		{"Veth.B.Routes[0].Via", func(v *netns.Veth) {
			v.B.Routes = []netns.Route{{Dst: netip.MustParsePrefix("10.1.0.0/16"), Via: netip.MustParseAddr("fd00::1")}}
		}},
		{"Veth.B.Gateway", func(v *netns.Veth) { v.B.Gateway = netip.MustParseAddr("::ffff:1.2.3.4") }},
	} {
		v := good()
		tc.edit(&v)
		err := netns.CreateVeth(v)
		var ce *netns.InvalidError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: CreateVeth = %v, want *InvalidError for that field", tc.field, err)
		}
	}
}

func TestHandleNilAndClosed(t *testing.T) {
	var nilH *netns.Handle
	if err := nilH.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}
	if nilH.FD() != -1 || !nilH.Equal(nil) {
		t.Errorf("nil handle: FD %d, Equal(nil) %v", nilH.FD(), nilH.Equal(nil))
	}
	h, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	if h.Equal(nil) {
		t.Error("open handle equals nil")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := namespace.Do(func() error { return nil }, h); !errors.Is(err, netns.ErrClosed) {
		t.Errorf("Do on closed handle = %v, want ErrClosed", err)
	}
	if _, err := netns.OpenPid(0); err == nil {
		t.Error("OpenPid(0) succeeded")
	}
}
