package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/mount"
)

// convertRoot builds the mount.Root: root.path (relative to the bundle),
// mounts, masked and read-only paths, rootfsPropagation.
func convertRoot(s *specs.Spec, bundle string, p *plan) error {
	rootPath := s.Root.Path
	if !filepath.IsAbs(rootPath) {
		rootPath = filepath.Join(bundle, rootPath)
	}
	r := &mount.Root{
		Path: rootPath, Readonly: s.Root.Readonly,
		MaskedPaths: s.Linux.MaskedPaths, ReadonlyPaths: s.Linux.ReadonlyPaths,
	}
	switch s.Linux.RootfsPropagation {
	case "", "private", "rprivate":
		r.Propagation = "rprivate"
	case "slave", "rslave":
		r.Propagation = "rslave"
	default:
		return &UnsupportedError{Field: "linux.rootfsPropagation", Value: s.Linux.RootfsPropagation, Reason: "private, rprivate, slave or rslave only"}
	}
	for i, m := range s.Mounts {
		mm, err := convertMount(i, m, bundle)
		if err != nil {
			return err
		}
		r.Mounts = append(r.Mounts, mm)
	}
	if err := convertDevices(s, r, p); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		var ce *mount.InvalidError
		if errors.As(err, &ce) && strings.HasPrefix(ce.Field, "Devices[") {
			return &ConfigError{Field: ociDeviceField(ce.Field), Value: fmt.Sprint(ce.Value), Reason: ce.Reason, Err: err}
		}
		if errors.As(err, &ce) {
			return &ConfigError{Field: "mounts", Value: fmt.Sprint(ce.Value), Reason: "refused by the mount package (" + ce.Field + ")", Err: err}
		}
		return &ConfigError{Field: "root.path", Value: rootPath, Reason: "unusable", Err: err}
	}
	p.cmd.Root = r
	return nil
}

// ociFSTypes maps config.json mount types to the mount package's.
var ociFSTypes = map[string]string{
	"bind": "bind", "tmpfs": "tmpfs", "proc": "proc", "sysfs": "sysfs",
	"devpts": "devpts", "mqueue": "mqueue", "cgroup": "cgroup2", "cgroup2": "cgroup2",
}

// convertMount maps one OCI mount. The tmpfs on /dev becomes the library's
// minimal /dev (fresh null, zero, full, random, urandom and tty nodes,
// devpts, shm), which is what runc makes from the same entry.
func convertMount(i int, m specs.Mount, bundle string) (mount.Mount, error) {
	field := fmt.Sprintf("mounts[%d]", i)
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return mount.Mount{}, &UnsupportedError{Field: field + ".uidMappings", Value: m.Destination, Reason: "no id-mapped mounts"}
	}
	if !filepath.IsAbs(m.Destination) {
		return mount.Mount{}, &ConfigError{Field: field + ".destination", Value: m.Destination, Reason: "must be absolute"}
	}
	if filepath.Clean(m.Destination) == "/dev" && m.Type == "tmpfs" {
		d := mount.Dev("/dev")
		d.Source = m.Source // what the mount table shows, as for every mount
		return d, nil
	}
	typ := m.Type
	if slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
		typ = "bind"
	}
	mt, ok := ociFSTypes[typ]
	if !ok {
		return mount.Mount{}, &UnsupportedError{Field: field + ".type", Value: m.Type, Reason: "bind, tmpfs, proc, sysfs, devpts, mqueue and cgroup only"}
	}
	out := mount.Mount{Type: mt, Target: m.Destination, Source: m.Source}
	if mt == "bind" {
		if !filepath.IsAbs(m.Source) {
			out.Source = filepath.Join(bundle, m.Source)
		}
		if !slices.Contains(m.Options, "bind") {
			out.Options = append(out.Options, "rbind")
		}
	}
	for _, o := range m.Options {
		switch o {
		case "defaults":
			continue
		case "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
			return mount.Mount{}, &UnsupportedError{Field: field + ".options", Value: o, Reason: "per-mount propagation other than private"}
		}
		out.Options = append(out.Options, o)
	}
	return out, nil
}
