package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/seccomp"
)

// useSeccompCache points the cache at a fresh directory for one test.
func useSeccompCache(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "seccomp")
	old := seccompCacheDir
	seccompCacheDir = dir
	t.Cleanup(func() { seccompCacheDir = old })
	return dir
}

// compileCounting compiles the default profile for caps and counts calls.
func compileCounting(caps seccomp.CapSet, n *int) func() (*seccomp.Program, error) {
	return func() (*seccomp.Program, error) {
		*n++
		p, _, err := seccomp.CompileProfile(seccomp.Default(), seccomp.Target{Caps: caps})
		return p, err
	}
}

// The second run takes the filter from the cache, and it is the filter
// the compiler makes; other capabilities are another entry.
func TestSeccompCacheHit(t *testing.T) {
	dir := useSeccompCache(t)
	want, _, err := seccomp.CompileProfile(seccomp.Default(), seccomp.Target{Caps: seccomp.DefaultCaps})
	if err != nil {
		t.Fatal(err)
	}
	compiles := 0
	for i := range 2 {
		got, err := cachedSeccomp(nil, uint64(seccomp.DefaultCaps), compileCounting(seccomp.DefaultCaps, &compiles))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Instructions(), want.Instructions()) {
			t.Fatalf("run %d: the filter differs from the compiler's", i)
		}
	}
	if compiles != 1 {
		t.Fatalf("compiled %d times in two runs, want 1", compiles)
	}
	if _, err := cachedSeccomp(nil, 0, compileCounting(0, &compiles)); err != nil || compiles != 2 {
		t.Fatalf("other capabilities: err %v, compiled %d times in all, want 2", err, compiles)
	}
	if _, err := cachedSeccomp([]byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0, compileCounting(0, &compiles)); err != nil || compiles != 3 {
		t.Fatalf("another profile: err %v, compiled %d times in all, want 3", err, compiles)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory: %v, mode %v, want 0700", err, st.Mode())
	}
}

// An entry anyone else could have written, or a damaged one, is not
// used: the filter is compiled again.
func TestSeccompCacheRefusesUntrusted(t *testing.T) {
	dir := useSeccompCache(t)
	compiles := 0
	compile := compileCounting(seccomp.DefaultCaps, &compiles)
	if _, err := cachedSeccomp(nil, uint64(seccomp.DefaultCaps), compile); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache holds %v (%v), want one entry", entries, err)
	}
	entry := filepath.Join(dir, entries[0].Name())
	data, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spoil func()
	}{
		{"group-writable file", func() { must(t, os.Chmod(entry, 0o620)) }},
		{"world-writable directory", func() { must(t, os.Chmod(dir, 0o777)) }},
		{"flipped instruction byte", func() {
			bad := slices.Clone(data)
			bad[len(seccompCacheMagic)+4+5] ^= 1
			must(t, os.WriteFile(entry, bad, 0o600))
		}},
		{"symlink", func() {
			other := filepath.Join(t.TempDir(), "other")
			must(t, os.WriteFile(other, data, 0o600))
			must(t, os.Remove(entry))
			must(t, os.Symlink(other, entry))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := compiles
			tc.spoil()
			if _, err := cachedSeccomp(nil, uint64(seccomp.DefaultCaps), compile); err != nil {
				t.Fatal(err)
			}
			if compiles != before+1 {
				t.Fatalf("the spoilt entry was used (compiled %d times, want %d)", compiles-before, 1)
			}
			must(t, os.Chmod(dir, 0o700))
			_ = os.Remove(entry)
			must(t, os.WriteFile(entry, data, 0o600))
		})
	}
}

// A miss stores the new entry and removes those of other binaries.
func TestSeccompCachePrunesOtherBinaries(t *testing.T) {
	dir := useSeccompCache(t)
	must(t, os.MkdirAll(dir, 0o700))
	stale := filepath.Join(dir, "0123456789abcdef-00")
	must(t, os.WriteFile(stale, []byte("old"), 0o600))
	n := 0
	if _, err := cachedSeccomp(nil, 1, compileCounting(1, &n)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("another binary's entry survived: %v", err)
	}
	exe, _, err := seccompKey(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), exe+"-") {
		t.Fatalf("cache holds %v, want this binary's entry only", entries)
	}
}

func FuzzDecodeSeccomp(f *testing.F) {
	f.Add(encodeSeccomp([]unix.SockFilter{{Code: 6, K: 0x7fff0000}}))
	f.Add([]byte(seccompCacheMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		insns, err := decodeSeccomp(b)
		if err != nil {
			return
		}
		if again := encodeSeccomp(insns); string(again) != string(b) {
			t.Fatalf("decoded %d instructions that encode differently", len(insns))
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
