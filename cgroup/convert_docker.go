package cgroup

import (
	"github.com/confinelab/confine/internal/units"
)

// SharesToWeight converts cgroup v1 cpu.shares (2..262144, default 1024)
// to cgroup v2 cpu.weight (1..10000) with the formula runc, crun and the
// kubelet use: 1 + ((shares-2)×9999)/262142. Shares outside the v1 range
// are clamped as the v1 kernel did; 0 means "not set" and gives 0.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// ParseSize parses a byte size in the grammar every confine package
// accepts (Docker's, go-units RAMInBytes): a decimal number, an optional
// space, and an optional unit b, k, m, g, t or p (any case, binary
// multiples of 1024), optionally followed by "b" or "ib": "512m", "1.5g",
// "64KiB", "100". Fractions are truncated to whole bytes. mount.ParseSize
// reads the same grammar. Bad input is an *InvalidError.
func ParseSize(s string) (int64, error) {
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, invalid("size", s, err.Error())
	}
	return n, nil
}

// BlkioToIOWeight converts a cgroup v1 blkio.weight (10..1000) to io.weight
// (1..10000) as runc does; 0 stays 0 (unset).
func BlkioToIOWeight(w uint64) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (w-10)*9999/990
}
