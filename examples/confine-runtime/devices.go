package main

import (
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/cgroup"
	"github.com/confinelab/confine/mount"
)

// convertDevices maps linux.devices to the mount package's nodes (made
// below the container's /dev, never through a symlink) and grants each
// character or block device rwm in the device cgroup, after the config's
// own rules and the default allowlist: a device the config asks to be
// created is one the container may use. Checks of the path and numbers are
// the mount package's (Validate, in convertRoot).
func convertDevices(s *specs.Spec, r *mount.Root, p *plan) error {
	for i, d := range s.Linux.Devices {
		field := fmt.Sprintf("linux.devices[%d]", i)
		if path.Clean(d.Path) == "/dev/ptmx" {
			continue // the /dev/pts/ptmx link of the container's own devpts, as runc
		}
		typ := d.Type
		if typ == "u" { // unbuffered character device
			typ = "c"
		}
		if len(typ) != 1 || !strings.Contains("cbp", typ) {
			return &ConfigError{Field: field + ".type", Value: d.Type, Reason: "must be c, u, b or p"}
		}
		n := mount.DeviceNode{Path: d.Path, Type: typ[0], Mode: 0o666}
		for _, num := range []struct {
			name string
			v    int64
			dst  *uint32
		}{{"major", d.Major, &n.Major}, {"minor", d.Minor, &n.Minor}} {
			if num.v < 0 || num.v > 1<<32-1 {
				return &ConfigError{Field: field + "." + num.name, Value: fmt.Sprint(num.v), Reason: "must be a device number >= 0"}
			}
			*num.dst = uint32(num.v)
		}
		if d.FileMode != nil {
			n.Mode = uint32(*d.FileMode) &^ unix.S_IFMT // runc ignores the type bits
		}
		if d.UID != nil {
			n.UID = *d.UID
		}
		if d.GID != nil {
			n.GID = *d.GID
		}
		r.Devices = append(r.Devices, n)
		if typ != "p" {
			t := map[string]cgroup.DeviceType{"c": cgroup.CharDevice, "b": cgroup.BlockDevice}[typ]
			p.resources.Devices = append(p.resources.Devices, cgroup.AllowDevice(t, d.Major, d.Minor, cgroup.DeviceRWM))
		}
	}
	return nil
}

// ociDeviceField turns the mount package's "Devices[2].Mode" into
// "linux.devices[2].fileMode".
func ociDeviceField(f string) string {
	idx, name, _ := strings.Cut(strings.TrimPrefix(f, "Devices"), ".")
	if oci, ok := map[string]string{"Path": "path", "Type": "type", "Major": "major", "Minor": "minor", "Mode": "fileMode", "UID": "uid", "GID": "gid"}[name]; ok {
		name = oci
	}
	return "linux.devices" + idx + "." + name
}
