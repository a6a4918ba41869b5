package cgroup

import (
	"errors"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"10mbit", 10e6}, {"1gbit", 1e9}, {"500kbit", 500e3}, {"1000000", 1e6},
		{"10mbps", 80e6}, {"1Mbit", 1e6}, {"1.5mbit", 1.5e6}, {"10M", 10e6},
		{"1k", 1000}, {"1Ki", 1024}, {"2Gi", 2 << 30}, {"1kibit", 1024},
		{"  7bit ", 7}, {"0.5bit", 1}, {"1bps", 8}, {"+3", 3},
		{"18446744073709551615", 1<<64 - 1},
	} {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRateErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"0", ErrRateZero}, {"0mbit", ErrRateZero}, {"0.1bit", ErrRateZero},
		{"-1", ErrRateNegative}, {"-10mbit", ErrRateNegative},
		{"18446744073709551616", ErrRateOverflow}, {"3tbps", nil},
		{"99999999tbit", ErrRateOverflow},
		{"10furlongs", ErrRateUnit}, {"10m", ErrRateUnit}, {"10 mbit", ErrRateUnit},
		{"", ErrRateSyntax}, {"mbit", ErrRateSyntax}, {"1.2.3", ErrRateSyntax},
		{".", ErrRateSyntax}, {"1-2", ErrRateSyntax},
	} {
		_, err := ParseRate(tc.in)
		if tc.want == nil {
			if err != nil {
				t.Errorf("ParseRate(%q): %v", tc.in, err)
			}
			continue
		}
		var re *RateError
		if !errors.Is(err, tc.want) || !errors.As(err, &re) || re.Input != tc.in {
			t.Errorf("ParseRate(%q) error = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	for in, want := range map[uint64]string{
		10e6: "10mbit", 1e9: "1gbit", 1500e3: "1500kbit", 999: "999bit", 0: "0bit", 2e12: "2tbit",
	} {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10mbit", "1gbit", "500kbit", "100", "10M", "1.5Gi", "-1", "0", "1e3", "9999999999999tbps"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			var re *RateError
			if !errors.As(err, &re) {
				t.Fatalf("ParseRate(%q): untyped error %v", s, err)
			}
			return
		}
		if r == 0 {
			t.Fatalf("ParseRate(%q) = 0 without error", s)
		}
		if back, err := ParseRate(FormatRate(r)); err != nil || back != r {
			t.Fatalf("round trip of %d via %q: %d, %v", r, FormatRate(r), back, err)
		}
	})
}
