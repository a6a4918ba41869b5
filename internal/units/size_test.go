package units

import (
	"strconv"
	"testing"
)

func TestParseSize(t *testing.T) {
	// Values as docker's RAMInBytes (go-units) gives them: binary units.
	good := map[string]int64{
		"0": 0, "100": 100, "1b": 1, "10b": 10, "512m": 512 << 20, "512M": 512 << 20, "1g": 1 << 30,
		"1.5g": 1536 << 20, "0.5k": 512, "64KiB": 64 << 10, "64kb": 64 << 10, "64mb": 64 << 20,
		"2GB": 2 << 30, "1 m": 1 << 20, "1 ": 1, "1t": 1 << 40, "2t": 2 << 40, "1p": 1 << 50,
		"1.0000001k": 1024, "65536k": 64 << 20, "9223372036854775807": 1<<63 - 1,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1", "+5", "1x", "1.2.3", "1mm", "1gbb", ".5m", "5.m", "1  m",
		"1e3", "0x10", "9999999999p", "99999999999999t", "9223372036854775808", "8192p"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

// Every accepted size is non-negative, and a whole number of bytes reads
// back as itself with each unit that divides it.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512m", "1.5g", "64KiB", "100", "1 MB", "-1", "", "9223372036854775807", "8e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("%q -> %d", s, n)
		}
		if got, err := ParseSize(strconv.FormatInt(n, 10)); err != nil || got != n {
			t.Fatalf("%q -> %d, which reads back as %d, %v", s, n, got, err)
		}
		if n%1024 == 0 {
			if got, err := ParseSize(strconv.FormatInt(n/1024, 10) + "k"); err != nil || got != n {
				t.Fatalf("%q -> %d, whose k form reads back as %d, %v", s, n, got, err)
			}
		}
	})
}
