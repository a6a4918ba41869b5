// Package units holds the one grammar confine accepts for byte sizes,
// wherever a size is written as text: cgroup limits (--memory) and mount
// options (--tmpfs size=) alike. The public packages wrap its reason in
// their typed errors.
package units

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a byte size the way Docker does for --memory and
// --tmpfs (go-units RAMInBytes): a decimal number, at most one space, and
// an optional unit b, k, m, g, t or p in any case, binary multiples of
// 1024, optionally followed by "b" or "ib": "512m", "1.5g", "64KiB",
// "100", "2 GB". Fractions are truncated to whole bytes; a number without
// a fraction is exact up to the largest int64. The error says what is
// wrong, for the caller to wrap with the field and value.
func ParseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimPrefix(s[i:], " ")
	if num == "" || num[0] == '.' || num[len(num)-1] == '.' || strings.Count(num, ".") > 1 {
		return 0, errors.New("invalid size: want a number like 512m or 1.5g")
	}
	mul, ok := unitMultiple(strings.ToLower(unit))
	if !ok {
		return 0, errors.New("invalid size suffix " + strconv.Quote(unit) + ": want b, k, m, g, t or p")
	}
	tooLarge := errors.New("size too large (at most 8 EiB - 1)")
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mul {
			return 0, tooLarge
		}
		return n * mul, nil
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, errors.New("invalid size: want a number like 512m or 1.5g")
	}
	if v *= float64(mul); v >= math.MaxInt64 {
		return 0, tooLarge
	}
	return int64(v), nil
}

func unitMultiple(u string) (int64, bool) {
	if u == "" || u == "b" {
		return 1, true
	}
	exp := strings.IndexByte("kmgtp", u[0])
	if exp < 0 {
		return 0, false
	}
	if rest := u[1:]; rest != "" && rest != "b" && rest != "ib" {
		return 0, false
	}
	return int64(1) << (10 * (exp + 1)), true
}
