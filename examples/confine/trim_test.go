package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := `00400000-0067d000 r-xp 00000000 fd:01 123 /usr/bin/confine
0067d000-00948000 r--p 0027d000 fd:01 123 /usr/bin/confine
00948000-00966000 rw-p 00548000 fd:01 123 /usr/bin/confine
00966000-0299d000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--s 00000000 fd:01 123 /usr/bin/confine
7f0000001000-7f0000002000 r--p 00000000 fd:01 124 /usr/bin/confine2
7f0000002000-7f0000003000 r--p 00000000 fd:01 125 /usr/bin/confine (deleted)
`
	got := readOnlyMappings([]byte(maps), "/usr/bin/confine")
	want := [][2]uintptr{{0x400000, 0x67d000}, {0x67d000, 0x948000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %x, want %x (private, not writable, this file only)", got, want)
	}
}

// rssFile reads RssFile (kB) of this process.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// The kernel drops the binary's pages from the process (they stay in the
// page cache), and the process goes on running.
func TestTrimSupervisorDropsFilePages(t *testing.T) {
	before := rssFile(t)
	trimSupervisor()
	after := rssFile(t)
	if after >= before {
		t.Fatalf("RssFile %d kB before the trim, %d kB after", before, after)
	}
	t.Logf("RssFile %d -> %d kB", before, after)
}
