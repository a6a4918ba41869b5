package cgroup

// hugeFiles are one page size's NUL-terminated file names, built once per
// Cgroup so that reading them does not allocate.
type hugeFiles struct {
	size                 string
	current, max, events []byte
}

func (c *Cgroup) statHugeTLB(s *Stats) error {
	if c.huge == nil {
		for _, size := range c.h.HugePageSizes {
			p := "hugetlb." + size
			c.huge = append(c.huge, hugeFiles{size: size,
				current: []byte(p + ".current\x00"), max: []byte(p + ".max\x00"), events: []byte(p + ".events\x00")})
		}
	}
	if cap(s.HugeTLB) < len(c.huge) {
		s.HugeTLB = make([]HugeTLBStats, len(c.huge))
	}
	s.HugeTLB = s.HugeTLB[:len(c.huge)]
	for i, f := range c.huge {
		d := &s.HugeTLB[i]
		d.PageSize = f.size
		var err error
		if d.Current, err = c.readSingle(f.current); err != nil {
			return err
		}
		if d.Max, err = c.readSingle(f.max); err != nil {
			return err
		}
		b, err := c.readLocked(f.events)
		if err == nil {
			d.MaxEvents, err = parseEventsMax(b)
		}
		if err != nil {
			return c.statErr(f.events, err)
		}
	}
	return nil
}
