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
	// The spec's values are the library's (see mount.Root.Propagation:
	// a shared root is shared within the container, never with the host).
	r.Propagation = s.Linux.RootfsPropagation
	if r.Propagation == "" {
		r.Propagation = "rprivate"
	}
	for i, m := range s.Mounts {
		mm, ignored, err := convertMount(i, m, bundle)
		if err != nil {
			return err
		}
		for _, o := range ignored {
			p.warnings = append(p.warnings, fmt.Sprintf("mounts[%d].options: %q ignored: filesystem data means nothing to a bind mount", i, o))
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
		if errors.As(err, &ce) && ce.Field == "Propagation" {
			return &ConfigError{Field: "linux.rootfsPropagation", Value: s.Linux.RootfsPropagation, Reason: "unknown propagation", Err: err}
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
// devpts, shm), which is what runc makes from the same entry. A bind's
// key=value options are returned as ignored: mount(2) ignores filesystem
// data with MS_BIND (so do mount(8) and runc), the mount package refuses it.
func convertMount(i int, m specs.Mount, bundle string) (mount.Mount, []string, error) {
	field := fmt.Sprintf("mounts[%d]", i)
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return mount.Mount{}, nil, &UnsupportedError{Field: field + ".uidMappings", Value: m.Destination, Reason: "no id-mapped mounts"}
	}
	if !filepath.IsAbs(m.Destination) {
		return mount.Mount{}, nil, &ConfigError{Field: field + ".destination", Value: m.Destination, Reason: "must be absolute"}
	}
	if filepath.Clean(m.Destination) == "/dev" && m.Type == "tmpfs" {
		d := mount.Dev("/dev")
		d.Source = m.Source // what the mount table shows, as for every mount
		return d, nil, nil
	}
	typ := m.Type
	if slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
		typ = "bind"
	}
	mt, ok := ociFSTypes[typ]
	if !ok {
		return mount.Mount{}, nil, &UnsupportedError{Field: field + ".type", Value: m.Type, Reason: "bind, tmpfs, proc, sysfs, devpts, mqueue and cgroup only"}
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
	var ignored []string
	for _, o := range m.Options {
		switch {
		case o == "defaults":
			continue
		case mt == "bind" && strings.Contains(o, "="):
			ignored = append(ignored, o)
			continue
		}
		out.Options = append(out.Options, o)
	}
	return out, ignored, nil
}
