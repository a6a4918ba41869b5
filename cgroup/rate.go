package cgroup

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Rate parsing errors; a *RateError wraps exactly one of them.
var (
	ErrRateSyntax   = errors.New("not a number with an optional unit")
	ErrRateUnit     = errors.New("unknown unit")
	ErrRateZero     = errors.New("rate must be at least 1 bit/s")
	ErrRateNegative = errors.New("rate must not be negative")
	ErrRateOverflow = errors.New("rate does not fit in 64 bits")
)

// RateError reports a rate string ParseRate refused.
type RateError struct {
	Input string // the string as given
	Err   error  // one of the ErrRate* values
}

func (e *RateError) Error() string {
	return "cgroup: rate " + strconv.Quote(e.Input) + ": " + e.Err.Error()
}

// Unwrap returns the ErrRate* reason.
func (e *RateError) Unwrap() error { return e.Err }

// rateUnits maps a lower-cased unit to bits per unit. tc(8) units: bit,
// kbit..tbit (decimal), kibit..tibit (binary), bps..tbps and kibps..tibps
// are BYTES per second as in tc. Kubernetes quantities (the
// kubernetes.io/egress-bandwidth annotation): k, M, G, T (decimal) and Ki,
// Mi, Gi, Ti (binary), in bits per second; they are matched case-
// sensitively before this table, since Kubernetes' "m" means milli.
var rateUnits = map[string]uint64{
	"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
	"kibps": 8 << 10, "mibps": 8 << 20, "gibps": 8 << 30, "tibps": 8 << 40,
}

var quantityUnits = map[string]uint64{
	"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
}

// ParseRate parses a rate in bits per second as users write it: a plain
// integer ("1000000"), tc units ("10mbit", "1gbit", "500kbit", "1.5mbit",
// "10mbps" = 10 megabytes/s) or a Kubernetes quantity ("10M", "1Gi").
// Units are case-insensitive except Kubernetes suffixes. Fractions are
// rounded to the nearest bit/s. Errors are *RateError.
func ParseRate(s string) (uint64, error) {
	fail := func(err error) (uint64, error) { return 0, &RateError{Input: s, Err: err} }
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || t[i] == '-' || t[i] == '+') {
		i++
	}
	num, unit := t[:i], t[i:]
	if strings.HasPrefix(num, "-") {
		return fail(ErrRateNegative)
	}
	num = strings.TrimPrefix(num, "+")
	if num == "" || strings.ContainsAny(num, "+-") || strings.Count(num, ".") > 1 || num == "." {
		return fail(ErrRateSyntax)
	}
	mult, ok := quantityUnits[unit]
	if !ok {
		if mult, ok = rateUnits[strings.ToLower(unit)]; !ok {
			return fail(ErrRateUnit)
		}
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return fail(ErrRateSyntax)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).SetUint64(mult)))
	// Round half up: floor(r + 1/2).
	r.Add(r, big.NewRat(1, 2))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	switch {
	case n.Sign() == 0:
		return fail(ErrRateZero)
	case !n.IsUint64():
		return fail(ErrRateOverflow)
	}
	return n.Uint64(), nil
}

// FormatRate formats bits per second with the largest decimal tc unit
// that represents it exactly ("10mbit", "1500kbit", "999bit"), so that
// ParseRate(FormatRate(r)) == r.
func FormatRate(bps uint64) string {
	for _, u := range []struct {
		name string
		div  uint64
	}{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bps != 0 && bps%u.div == 0 {
			return strconv.FormatUint(bps/u.div, 10) + u.name
		}
	}
	return strconv.FormatUint(bps, 10) + "bit"
}

// maxRate keeps rate arithmetic (bytes = bits/8, ns costs) far from overflow.
const maxRate = math.MaxUint64 / 8
