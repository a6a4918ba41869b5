package cgroup

import (
	"slices"
	"strconv"
)

// HugeTLB limits use of one huge page size.
type HugeTLB struct {
	// PageSize is the size as the kernel names it: "2MB", "1GB", "64KB".
	PageSize string
	// Max is hugetlb.<PageSize>.max in bytes; 0 leaves it unchanged,
	// Unlimited writes "max", Zero forbids any page of that size.
	Max int64
}

func planHugeTLB(ws []write, limits []HugeTLB, sizes []string) ([]write, error) {
	for i, l := range limits {
		// The field name is built only for an error: this runs on every New.
		field := func() string { return "HugeTLB[" + strconv.Itoa(i) + "]" }
		if !slices.Contains(sizes, l.PageSize) {
			return nil, invalid(field()+".PageSize", l.PageSize, "not a huge page size of this host (have "+join(sizes)+")")
		}
		if l.Max == 0 {
			continue
		}
		if l.Max < 0 && l.Max != Zero {
			return nil, checkLimit(field()+".Max", l.Max)
		}
		ws = append(ws, write{ctrl: "hugetlb", file: "hugetlb." + l.PageSize + ".max", value: limitValue(l.Max)})
	}
	return ws, nil
}

func join(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}
