package cgroup

import (
	"math/big"
	"strings"
	"time"
)

// Quantity is a Kubernetes resource quantity ("500m", "1.5", "512Mi",
// "1G", "1e3"), held exactly.
type Quantity struct {
	r big.Rat
}

var k8sSuffixes = map[string]*big.Rat{
	"n": big.NewRat(1, 1e9), "u": big.NewRat(1, 1e6), "m": big.NewRat(1, 1e3), "": big.NewRat(1, 1),
	"k": big.NewRat(1e3, 1), "M": big.NewRat(1e6, 1), "G": big.NewRat(1e9, 1), "T": big.NewRat(1e12, 1),
	"P": big.NewRat(1e15, 1), "E": big.NewRat(1e18, 1),
	"Ki": big.NewRat(1<<10, 1), "Mi": big.NewRat(1<<20, 1), "Gi": big.NewRat(1<<30, 1),
	"Ti": big.NewRat(1<<40, 1), "Pi": big.NewRat(1<<50, 1), "Ei": big.NewRat(1<<60, 1),
}

// ParseQuantity parses the Kubernetes quantity grammar: an optional sign,
// digits with an optional fraction, then a decimal SI suffix (n u m k M G
// T P E), a binary one (Ki Mi Gi Ti Pi Ei) or a decimal exponent (e3, E-2).
func ParseQuantity(s string) (Quantity, error) {
	var q Quantity
	bad := invalid("quantity", s, "want a Kubernetes quantity like 500m, 1.5, 512Mi, 1G or 1e3")
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		if s[i] != '.' {
			digits++
		}
		i++
	}
	num, suffix := s[:i], s[i:]
	if digits == 0 || strings.Count(num, ".") > 1 {
		return q, bad
	}
	if _, ok := q.r.SetString(strings.TrimPrefix(num, "+")); !ok {
		return q, bad
	}
	if mul, ok := k8sSuffixes[suffix]; ok {
		q.r.Mul(&q.r, mul)
		return q, nil
	}
	if len(suffix) < 2 || (suffix[0] != 'e' && suffix[0] != 'E') {
		return q, bad
	}
	exp := 0
	neg := false
	e := suffix[1:]
	if e[0] == '+' || e[0] == '-' {
		neg = e[0] == '-'
		e = e[1:]
	}
	if e == "" || len(e) > 3 {
		return q, bad
	}
	for _, c := range e {
		if c < '0' || c > '9' {
			return q, bad
		}
		exp = exp*10 + int(c-'0')
	}
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil))
	if neg {
		q.r.Quo(&q.r, p)
	} else {
		q.r.Mul(&q.r, p)
	}
	return q, nil
}

// Value is the quantity rounded up to an integer, as Kubernetes'
// Quantity.Value does; ok is false when it does not fit an int64.
func (q Quantity) Value() (v int64, ok bool) { return ceilScaled(&q.r, 1) }

// MilliValue is the quantity in thousandths, rounded up.
func (q Quantity) MilliValue() (v int64, ok bool) { return ceilScaled(&q.r, 1000) }

func ceilScaled(r *big.Rat, scale int64) (int64, bool) {
	x := new(big.Rat).Mul(r, big.NewRat(scale, 1))
	n, m := new(big.Int), new(big.Int)
	n.DivMod(x.Num(), x.Denom(), m) // floor division (Euclidean, denom > 0)
	if m.Sign() != 0 {
		n.Add(n, big.NewInt(1))
	}
	return n.Int64(), n.IsInt64()
}

// kubelet constants (pkg/kubelet/cm): shares per CPU, the v1 share bounds
// and the minimum CFS quota.
const (
	k8sSharesPerCPU = 1024
	k8sMinShares    = 2
	k8sMaxShares    = 262144
	k8sMinQuota     = 1000 // µs
)

// KubernetesCPU converts a container's CPU request and limit ("" = not
// set) the way the kubelet does on cgroup v2: the request becomes shares
// (milliCPU×1024/1000, at least 2) and then cpu.weight with
// SharesToWeight; the limit becomes cpu.max quota = milliCPU×100 µs per
// 100 ms period (at least 1 ms).
func KubernetesCPU(request, limit string) (*CPU, error) {
	c := &CPU{}
	if request != "" {
		milli, err := k8sMilli("request", request)
		if err != nil {
			return nil, err
		}
		shares := milli * k8sSharesPerCPU / 1000
		shares = min(max(shares, k8sMinShares), k8sMaxShares)
		c.Weight = SharesToWeight(uint64(shares))
	}
	if limit != "" {
		milli, err := k8sMilli("limit", limit)
		if err != nil {
			return nil, err
		}
		if milli > 0 {
			quota := max(milli*int64(DefaultCPUPeriod/time.Microsecond)/1000, k8sMinQuota)
			c.Max = &CPUMax{Quota: time.Duration(quota) * time.Microsecond, Period: DefaultCPUPeriod}
		}
	}
	return c, nil
}

func k8sMilli(field, s string) (int64, error) {
	q, err := ParseQuantity(s)
	if err != nil {
		return 0, invalid("cpu "+field, s, err.(*InvalidError).Reason)
	}
	v, ok := q.MilliValue()
	if !ok || v < 0 || v > 1<<40 {
		return 0, invalid("cpu "+field, s, "out of range")
	}
	return v, nil
}

// KubernetesMemory converts a memory limit quantity ("512Mi", "1G") to
// memory.max, and a request, where given, to memory.min as the kubelet's
// Memory QoS feature does ("" = not set).
func KubernetesMemory(request, limit string) (*Memory, error) {
	m := &Memory{}
	for _, f := range []struct {
		name, s string
		dst     *int64
	}{{"memory request", request, &m.Min}, {"memory limit", limit, &m.Max}} {
		if f.s == "" {
			continue
		}
		q, err := ParseQuantity(f.s)
		if err != nil {
			return nil, invalid(f.name, f.s, err.(*InvalidError).Reason)
		}
		v, ok := q.Value()
		if !ok || v <= 0 {
			return nil, invalid(f.name, f.s, "must be a positive byte count")
		}
		*f.dst = v
	}
	return m, nil
}
