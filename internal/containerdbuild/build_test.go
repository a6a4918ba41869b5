package containerdbuild

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

// The go command's messages when the network is missing, and when the
// build itself is wrong: only the first kind may become a skip.
func TestUnreachable(t *testing.T) {
	dns := `go: github.com/containerd/containerd/v2@v2.4.2: Get "https://proxy.golang.org/github.com/containerd/containerd/v2/@v/v2.4.2.info": ` +
		`dial tcp: lookup proxy.golang.org on 10.0.0.1:53: no such host`
	off := "\tgithub.com/containerd/containerd/v2/cmd/ctr: module lookup disabled by GOPROXY=off"
	tls := `go: github.com/x/y@v1.0.0: Get "https://proxy.golang.org/x": net/http: TLS handshake timeout`
	for _, c := range []struct{ msg, want string }{
		{"go: finding module for package x\n" + dns, dns},
		{"go: confine.test/containerdbuild imports\n" + off, strings.TrimSpace(off)},
		{tls, tls},
		{"# github.com/containerd/containerd/v2/core/mount\ncore/mount/mount.go:10: undefined: unix.MountSetattr", ""},
		{"go: updates to go.mod needed; to update it:\n\tgo mod tidy", ""},
		{"package github.com/containerd/containerd/v2/cmd/nope is not in std", ""},
	} {
		if got := unreachable(c.msg); got != c.want {
			t.Errorf("unreachable(%q) = %q, want %q", c.msg, got, c.want)
		}
	}
}

// Open accepts only a whole build of every part at its version, and
// reports a recorded unreachable proxy as ErrUnreachable with its reason.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || errors.Is(err, ErrUnreachable) {
		t.Errorf("empty dir: %v, want a plain error", err)
	}
	why := &UnreachableError{Reason: "dial tcp: no such host"}
	if err := MarkUnavailable(dir, why); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrUnreachable) || err.Error() != why.Error() {
		t.Errorf("marked dir: %v, want %v", err, why)
	}
	if err := os.Remove(filepath.Join(dir, unavailableName)); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if err := os.MkdirAll(filepath.Join(dir, p.subdir), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range p.cmds {
			if err := os.WriteFile(p.bin(dir, c), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeStamp := func(p part, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, p.stampName), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeStamp(parts[0], "v0.0.1 "+genVersion+"\n")
	for _, p := range parts[1:] {
		writeStamp(p, p.stamp())
	}
	if _, err := Open(dir); err == nil {
		t.Error("a build of another containerd version was accepted")
	}
	// containerd whole, crictl missing (a cache made before crictl was
	// built): not a whole build, and the error names crictl.
	writeStamp(parts[0], parts[0].stamp())
	if err := os.Remove(filepath.Join(dir, parts[1].stampName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "cri-tools "+CrictlVersion) {
		t.Errorf("no crictl stamp: %v, want an error naming cri-tools %s", err, CrictlVersion)
	}
	writeStamp(parts[1], parts[1].stamp())
	// A CNI plugin of an older release: not the build Open wants.
	cni := parts[len(parts)-1]
	writeStamp(cni, "v1.0.0 "+genVersion+"\n")
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "plugins "+CNIVersion) {
		t.Errorf("CNI plugins of another version: %v, want an error naming plugins %s", err, CNIVersion)
	}
	writeStamp(cni, cni.stamp())
	b, err := Open(dir)
	if err != nil || b.Path("crictl") != filepath.Join(dir, "crictl") {
		t.Fatalf("whole build: %v, %v", b, err)
	}
	for _, p := range CNIPlugins {
		if fi, err := os.Stat(filepath.Join(b.CNIDir(), p)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("CNI plugin %s not in Bins.CNIDir %s: %v", p, b.CNIDir(), err)
		}
	}
	if err := os.Remove(filepath.Join(b.CNIDir(), "loopback")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("a build without the loopback plugin was accepted")
	}
	if err := os.WriteFile(filepath.Join(b.CNIDir(), "loopback"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "ctr"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("a non-executable ctr was accepted")
	}
}

// Commands and CNIPlugins are exactly the parts' commands, the plugins
// (and nothing else) in the cni directory; containerd's stamp is what it
// was before crictl was added (a cache shared with older builds stays
// valid); every part has a stamp of its own; the scratch modules require
// one module each at its version.
func TestParts(t *testing.T) {
	var cmds, plugins []string
	stamps := map[string]bool{}
	for _, p := range parts {
		for _, c := range p.cmds {
			switch p.subdir {
			case "":
				cmds = append(cmds, path.Base(c))
			case cniSubdir:
				plugins = append(plugins, path.Base(c))
			default:
				t.Errorf("%s: commands in %q, want the top directory or %q", p, p.subdir, cniSubdir)
			}
		}
		if stamps[p.stampName] {
			t.Errorf("stamp %s used twice", p.stampName)
		}
		stamps[p.stampName] = true
		gomod, tools := p.scratch()
		if want := "require " + p.module + " " + p.version + "\n"; !strings.Contains(gomod, want) || strings.Count(gomod, "require") != 1 {
			t.Errorf("%s: go.mod %q, want one requirement %q", p, gomod, want)
		}
		for _, c := range p.cmds {
			if !strings.Contains(tools, strconv.Quote(p.module+"/"+c)) {
				t.Errorf("%s: tools.go %q does not import %s", p, tools, c)
			}
		}
	}
	if !slices.Equal(cmds, Commands) {
		t.Errorf("parts build %v, Commands says %v", cmds, Commands)
	}
	if !slices.Equal(plugins, CNIPlugins) {
		t.Errorf("parts build the CNI plugins %v, CNIPlugins says %v", plugins, CNIPlugins)
	}
	if parts[0].stampName != ".complete" || parts[0].stamp() != Version+" 1\n" {
		t.Errorf("containerd's stamp %s %q changed: caches made before crictl would be rebuilt", parts[0].stampName, parts[0].stamp())
	}
}

// With the proxy switched off and an empty module cache, the real go
// command fails, and Build calls that unreachable (not a build error),
// leaving nothing behind.
func TestBuildWithoutProxy(t *testing.T) {
	testutil.RequireCommand(t, "go")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOMODCACHE", t.TempDir())
	parent := t.TempDir()
	dir := filepath.Join(parent, "containerd")
	_, err := Build(context.Background(), dir, io.Discard)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "GOPROXY=off") {
		t.Fatalf("Build with GOPROXY=off: %v, want an *UnreachableError naming GOPROXY=off", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("left after a failed build: %v", ents)
	}
}

// A cache holding containerd's part whole (made before crictl was built)
// is kept as it is when adding crictl fails: only crictl is built, and
// nothing of the attempt is left in or beside it.
func TestAddPartWithoutProxy(t *testing.T) {
	testutil.RequireCommand(t, "go")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOMODCACHE", t.TempDir())
	parent := t.TempDir()
	dir := filepath.Join(parent, "containerd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range parts[0].cmds {
		if err := os.WriteFile(filepath.Join(dir, path.Base(c)), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, parts[0].stampName), []byte(parts[0].stamp()), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	_, err := Build(context.Background(), dir, &log)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "GOPROXY=off") {
		t.Fatalf("Build with GOPROXY=off: %v, want an *UnreachableError naming GOPROXY=off", err)
	}
	if strings.Contains(log.String(), "containerd/v2/cmd") {
		t.Errorf("containerd rebuilt although whole:\n%s", log.String())
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("beside the cache after a failed build: %v", ents)
	}
	if err := parts[0].complete(dir); err != nil {
		t.Errorf("containerd's part after a failed crictl build: %v", err)
	}
}
