package main

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/namespace"
)

// TestConvertHostnameUTS: a hostname renames the container's own UTS
// namespace, new or joined by path (a pod's), and is refused when the
// container would share the runtime's.
func TestConvertHostnameUTS(t *testing.T) {
	withUTS := func(path string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.UTSNamespace {
					ns = append(ns, n)
				}
			}
			if path != "-" {
				ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace, Path: path})
			}
			s.Linux.Namespaces = ns
			s.Hostname = "h1"
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		ok     bool
	}{
		{"new uts", withUTS(""), true},
		{"joined uts", withUTS("/proc/1/ns/uts"), true},
		{"runtime's uts", withUTS("-"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, bundle := testSpec(t)
			tc.mutate(s)
			p, err := convert(s, bundle, "c1")
			var ce *ConfigError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("convert: %v", err)
			case tc.ok && p.cmd.Hostname != "h1":
				t.Errorf("hostname %q, want h1", p.cmd.Hostname)
			case !tc.ok && (!errors.As(err, &ce) || ce.Field != "hostname"):
				t.Errorf("convert: %v, want a ConfigError naming hostname", err)
			}
			if tc.ok && tc.name == "joined uts" && (len(p.joins) != 1 || p.joins[0].kind != namespace.UTS) {
				t.Errorf("joins %+v, want the uts path", p.joins)
			}
		})
	}
}

// TestConvertJoinedMountNamespace: a mount namespace joined by path gets
// the root (the library builds it there); none at all is refused, since
// the root would be built in the runtime's own.
func TestConvertJoinedMountNamespace(t *testing.T) {
	s, bundle := testSpec(t)
	for i, n := range s.Linux.Namespaces {
		if n.Type == specs.MountNamespace {
			s.Linux.Namespaces[i].Path = "/proc/1/ns/mnt"
		}
	}
	p, err := convert(s, bundle, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if p.cmd.Root == nil || p.cmd.Namespaces.Has(namespace.MNT) || len(p.joins) != 1 || p.joins[0].kind != namespace.MNT {
		t.Errorf("root %v, namespaces %v, joins %+v: want the root built in the joined mount namespace", p.cmd.Root != nil, p.cmd.Namespaces, p.joins)
	}
	s, bundle = testSpec(t)
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
	var ue *UnsupportedError
	if _, err := convert(s, bundle, "c1"); !errors.As(err, &ue) || ue.Field != "linux.namespaces" {
		t.Errorf("no mount namespace: %v, want an UnsupportedError naming linux.namespaces", err)
	}
}
