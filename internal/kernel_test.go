package internal

import (
	"errors"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"6.1", Version{6, 1, 0}, true},
		{"6.1.0-28-cloud-amd64", Version{6, 1, 0}, true},
		{"6.18.44-fc-v782", Version{6, 18, 44}, true},
		{"5.10.0", Version{5, 10, 0}, true},
		{"", Version{}, false},
		{"x", Version{}, false},
		{"6", Version{}, false},
	} {
		got, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if !(Version{5, 7, 0}).Less(Version{6, 1, 0}) || (Version{6, 1, 0}).Less(Version{6, 1, 0}) {
		t.Error("Less is wrong")
	}
}

func TestUnsupportedIs(t *testing.T) {
	err := Errorf("attaching", Unsupported("bpf_link", "5.7", errors.New("EINVAL")))
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("%v does not match ErrNotSupported", err)
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.MinKernel != "5.7" {
		t.Fatalf("errors.As failed: %v", err)
	}
	if got, want := err.Error(), "attaching: bpf_link not supported (requires Linux 5.7): EINVAL"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func FuzzParseVersion(f *testing.F) {
	f.Add("6.1.0-28-cloud-amd64")
	f.Add("5.")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseVersion(s) })
}
