package cgroup

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// IO holds limits of the io controller.
type IO struct {
	// Weight is the default proportional weight, 1..10000 (io.weight
	// "default N"); 0 leaves it unchanged.
	Weight uint64
	// Devices sets per-device limits (io.max).
	Devices []IODevice
}

// IODevice limits one block device. Name it by Major/Minor or by Path (a
// block device node, resolved with stat(2) during validation). For each
// rate 0 leaves it unchanged and Unlimited writes "max".
type IODevice struct {
	Major, Minor uint32
	// Path is a block device node such as /dev/loop0, used when Major and
	// Minor are both 0.
	Path string
	// Rbps and Wbps are read/write bytes per second.
	Rbps, Wbps int64
	// Riops and Wiops are read/write operations per second.
	Riops, Wiops int64
}

func (o *IO) plan(ws []write) ([]write, error) {
	if o.Weight != 0 {
		if o.Weight > 10000 {
			return nil, invalid("IO.Weight", o.Weight, "must be 1..10000")
		}
		ws = append(ws, write{ctrl: "io", file: "io.weight", value: "default " + itoa(o.Weight), dev: "default"})
	}
	for i := range o.Devices {
		w, err := o.Devices[i].plan("IO.Devices[" + strconv.Itoa(i) + "]")
		if err != nil {
			return nil, err
		}
		if w.value != "" {
			ws = append(ws, w)
		}
	}
	return ws, nil
}

func (d *IODevice) plan(field string) (write, error) {
	major, minor, err := d.resolve(field)
	if err != nil {
		return write{}, err
	}
	dev := itoa(uint64(major)) + ":" + itoa(uint64(minor))
	val := dev
	for _, r := range []struct {
		key string
		v   int64
	}{{"rbps", d.Rbps}, {"wbps", d.Wbps}, {"riops", d.Riops}, {"wiops", d.Wiops}} {
		if r.v == 0 {
			continue
		}
		// The kernel takes 0 as "no limit" in some versions and refuses
		// it in others; only positive numbers and "max" are unambiguous.
		if r.v < 0 {
			return write{}, invalid(field+"."+keyField(r.key), r.v, "must be > 0 or Unlimited")
		}
		val += " " + r.key + "=" + limitValue(r.v)
	}
	if val == dev {
		return write{}, nil
	}
	return write{ctrl: "io", file: "io.max", value: val, dev: dev}, nil
}

func keyField(k string) string {
	switch k {
	case "rbps":
		return "Rbps"
	case "wbps":
		return "Wbps"
	case "riops":
		return "Riops"
	}
	return "Wiops"
}

func (d *IODevice) resolve(field string) (major, minor uint32, err error) {
	if d.Major != 0 || d.Minor != 0 {
		if d.Path != "" {
			return 0, 0, invalid(field+".Path", d.Path, "give either Path or Major/Minor, not both")
		}
		return d.Major, d.Minor, nil
	}
	if d.Path == "" {
		return 0, 0, invalid(field, "0:0", "needs Major/Minor or Path")
	}
	var st unix.Stat_t
	if err := unix.Stat(d.Path, &st); err != nil {
		return 0, 0, invalid(field+".Path", d.Path, (&os.PathError{Op: "stat", Path: d.Path, Err: err}).Error())
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, invalid(field+".Path", d.Path, "not a block device")
	}
	return unix.Major(st.Rdev), unix.Minor(st.Rdev), nil
}
