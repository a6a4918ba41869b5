package mount

import (
	"strconv"
	"strings"

	"github.com/confinelab/confine/internal/units"
	"golang.org/x/sys/unix"
)

// fsParam is one filesystem parameter handed to fsconfig(2): a flag when
// Value is "", else a key=value string.
type fsParam struct{ Key, Value string }

// parsedOptions is the validated form of Mount.Options.
type parsedOptions struct {
	set, clr    uint64 // MOUNT_ATTR_* to set and clear
	recursive   bool   // bind only: rbind (default) or bind
	propagation uint64 // MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE or 0
	propRec     bool   // propagation for the mounts below too (rshared, ...)
	device      string // bind only: "char M:m" or "block M:m" the source must be
	params      []fsParam
}

// attrFlags maps generic per-mount options to MOUNT_ATTR_* bits; a true
// second value means "set", false means "clear".
var attrFlags = map[string]struct {
	attr uint64
	set  bool
}{
	"ro":          {unix.MOUNT_ATTR_RDONLY, true},
	"rw":          {unix.MOUNT_ATTR_RDONLY, false},
	"nosuid":      {unix.MOUNT_ATTR_NOSUID, true},
	"suid":        {unix.MOUNT_ATTR_NOSUID, false},
	"nodev":       {unix.MOUNT_ATTR_NODEV, true},
	"dev":         {unix.MOUNT_ATTR_NODEV, false},
	"noexec":      {unix.MOUNT_ATTR_NOEXEC, true},
	"exec":        {unix.MOUNT_ATTR_NOEXEC, false},
	"noatime":     {unix.MOUNT_ATTR_NOATIME, true},
	"strictatime": {unix.MOUNT_ATTR_STRICTATIME, true},
	"nodiratime":  {unix.MOUNT_ATTR_NODIRATIME, true},
	"relatime":    {unix.MOUNT_ATTR_RELATIME, true},
}

// propagationFlags maps the propagation options (each also with an "r"
// prefix: the mounts below too) to mount(2) flags.
var propagationFlags = map[string]uint64{
	"shared": unix.MS_SHARED, "slave": unix.MS_SLAVE,
	"private": unix.MS_PRIVATE, "unbindable": unix.MS_UNBINDABLE,
}

// validTypes lists the Mount.Type values Setup understands.
var validTypes = map[string]bool{
	"bind": true, "tmpfs": true, "proc": true, "sysfs": true,
	"devpts": true, "mqueue": true, "cgroup2": true, "dev": true,
}

// parseOptions validates opts for a mount of type typ; field names the
// option list in errors (e.g. "Mounts[2].Options").
func parseOptions(field, typ string, opts []string) (parsedOptions, error) {
	po := parsedOptions{recursive: true}
	for _, o := range opts {
		if err := po.add(typ, o); err != nil {
			return parsedOptions{}, &InvalidError{Pkg: "mount", Field: field, Value: o, Reason: err.Error()}
		}
	}
	return po, nil
}

type optError string

func (e optError) Error() string { return string(e) }

func (po *parsedOptions) add(typ, o string) error {
	if f, ok := attrFlags[o]; ok {
		if f.set {
			po.set |= f.attr
			po.clr &^= f.attr
		} else {
			po.clr |= f.attr
			po.set &^= f.attr
		}
		return nil
	}
	switch o {
	case "rbind", "bind":
		if typ != "bind" {
			return optError("only valid for bind mounts")
		}
		po.recursive = o == "rbind"
		return nil
	}
	if p, ok := propagationFlags[strings.TrimPrefix(o, "r")]; ok {
		po.propagation, po.propRec = p, strings.HasPrefix(o, "r")
		return nil
	}
	key, value, hasValue := strings.Cut(o, "=")
	if key == "device" && typ == "bind" {
		d, err := parseDeviceOption(value)
		po.device = d
		return err
	}
	if !validKey(key) {
		return optError("unknown option")
	}
	if typ == "bind" || typ == "dev" {
		return optError("unknown option for " + typ)
	}
	if hasValue {
		v, err := checkParam(typ, key, value)
		if err != nil {
			return err
		}
		value = v
	}
	po.params = append(po.params, fsParam{key, value})
	return nil
}

// validKey accepts the shape of a filesystem parameter name.
func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkParam validates the values we know and rejects characters that
// could smuggle a second option into legacy comma-separated data.
func checkParam(typ, key, value string) (string, error) {
	if value == "" || strings.ContainsAny(value, ",\x00\n") {
		return "", optError("empty value or forbidden character")
	}
	switch key {
	case "size":
		if typ != "tmpfs" {
			return "", optError("size only applies to tmpfs")
		}
		if strings.HasSuffix(value, "%") {
			n, err := strconv.ParseUint(strings.TrimSuffix(value, "%"), 10, 32)
			if err != nil || n == 0 || n > 100 {
				return "", optError("percentage must be 1-100")
			}
			return value, nil
		}
		n, err := ParseSize(value)
		if err != nil {
			return "", optError(err.(*InvalidError).Reason)
		}
		return strconv.FormatInt(n, 10), nil
	case "mode", "ptmxmode":
		n, err := strconv.ParseUint(value, 8, 32)
		if err != nil || n > 0o7777 {
			return "", optError("mode must be octal 0-7777")
		}
		return "0" + strconv.FormatUint(n, 8), nil
	case "uid", "gid", "nr_inodes":
		if _, err := strconv.ParseUint(value, 10, 32); err != nil {
			return "", optError(key + " must be a decimal number")
		}
	}
	return value, nil
}

// ParseSize parses a byte size in the grammar every confine package
// accepts (Docker's: "64m", "1.5g", "64KiB", "65536k"; see
// cgroup.ParseSize for the whole grammar), so --tmpfs size= reads what
// --memory reads. Bad input yields a *InvalidError.
func ParseSize(s string) (int64, error) {
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, &InvalidError{Pkg: "mount", Field: "size", Value: s, Reason: err.Error()}
	}
	return n, nil
}

// parseDeviceOption reads "c:MAJOR:MINOR" or "b:MAJOR:MINOR" into the form
// describe() gives a device node ("char 1:3").
func parseDeviceOption(v string) (string, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 || (parts[0] != "c" && parts[0] != "b") {
		return "", optError("device= wants c:MAJOR:MINOR or b:MAJOR:MINOR")
	}
	ma, err1 := strconv.ParseUint(parts[1], 10, 32)
	mi, err2 := strconv.ParseUint(parts[2], 10, 32)
	if err1 != nil || err2 != nil {
		return "", optError("device= wants decimal MAJOR and MINOR")
	}
	kind := "char"
	if parts[0] == "b" {
		kind = "block"
	}
	return kind + " " + strconv.FormatUint(ma, 10) + ":" + strconv.FormatUint(mi, 10), nil
}
