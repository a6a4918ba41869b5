package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// An unsupported flag is reported as the flag, not as a config.json field
// (containerd's shim shows this line to ctr's user), and still matches
// ErrUnsupported.
func TestUnsupportedFlagMessage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runtimeMain([]string{"--root", t.TempDir(), "--systemd-cgroup", "state", "x"}, &stdout, &stderr); code != 1 {
		t.Errorf("--systemd-cgroup: exit %d, want 1", code)
	}
	if got := stderr.String(); !strings.HasPrefix(got, `confine-runtime: --systemd-cgroup: "true": not supported by confine-runtime`) {
		t.Errorf("--systemd-cgroup: stderr %q", got)
	}
	field := &UnsupportedError{Field: "linux.intelRdt", Value: "x"}
	if !strings.HasPrefix(field.Error(), "config.json: linux.intelRdt: ") || !errors.Is(field, ErrUnsupported) {
		t.Errorf("a config.json field: %q", field)
	}
}
