package containerdbuild

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
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

// Open accepts only a whole build of this Version, and reports a recorded
// unreachable proxy as ErrUnreachable with its reason.
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
	for _, c := range Commands {
		if err := os.WriteFile(filepath.Join(dir, c), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, stampName), []byte("v0.0.1 "+genVersion+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("a build of another version was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, stampName), []byte(stamp()), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Open(dir); err != nil || b.Path("ctr") != filepath.Join(dir, "ctr") {
		t.Fatalf("whole build: %v, %v", b, err)
	}
	if err := os.Chmod(filepath.Join(dir, "ctr"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("a non-executable ctr was accepted")
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
