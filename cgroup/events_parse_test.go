package cgroup

import (
	"bytes"
	"testing"
)

func TestParseCgroupEvents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want cgEvents
		bad  bool
	}{
		{"populated 1\nfrozen 0\n", cgEvents{populated: true}, false},
		{"populated 0\nfrozen 1\n", cgEvents{frozen: true}, false},
		{"populated 1\nfrozen 1", cgEvents{true, true}, false},
		{"populated 1\nnew_key 7\n", cgEvents{populated: true}, false},
		{"", cgEvents{}, false},
		{"populated 0\n\nfrozen 1\n", cgEvents{frozen: true}, false},
		{"populated\n", cgEvents{}, true},
		{"populated x\n", cgEvents{}, true},
		{"populated 1 2\n", cgEvents{}, true},
		{" 1\n", cgEvents{}, true},
		{"populated 99999999999999999999\n", cgEvents{}, true},
	} {
		var ev cgEvents
		err := parseCgroupEvents([]byte(tc.in), &ev)
		if (err != nil) != tc.bad || (!tc.bad && ev != tc.want) {
			t.Errorf("%q: %+v, %v; want %+v, bad=%v", tc.in, ev, err, tc.want, tc.bad)
		}
	}
}

const memEventsSample = "low 0\nhigh 12\nmax 40\noom 3\noom_kill 2\noom_group_kill 1\n"

// TestParseMemoryEvents: the watcher reads memory.events with the Stats
// parser; oom_group_kill included.
func TestParseMemoryEvents(t *testing.T) {
	var ev MemoryEvents
	if err := parseMemoryEventsStat([]byte(memEventsSample), &ev); err != nil {
		t.Fatal(err)
	}
	if want := (MemoryEvents{High: 12, Max: 40, OOM: 3, OOMKill: 2, OOMGroupKill: 1}); ev != want {
		t.Fatalf("%+v, want %+v", ev, want)
	}
	if err := parseMemoryEventsStat([]byte("oom -1\n"), &ev); err == nil {
		t.Fatal("negative accepted")
	}
}

func TestParseAllocs(t *testing.T) {
	b := []byte(memEventsSample)
	c := []byte("populated 1\nfrozen 0\n")
	var m MemoryEvents
	var e cgEvents
	if n := testing.AllocsPerRun(100, func() {
		_ = parseMemoryEventsStat(b, &m)
		_ = parseCgroupEvents(c, &e)
	}); n != 0 {
		t.Fatalf("%v allocs per parse, want 0", n)
	}
}

// FuzzParseEvents: never panics, and whatever parses re-serialises to the
// keys it found (the parser does not invent values).
func FuzzParseEvents(f *testing.F) {
	for _, s := range []string{memEventsSample, "populated 1\nfrozen 0\n", "", "a 1", "x\n", "oom 18446744073709551615\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m MemoryEvents
		var e cgEvents
		errM := parseMemoryEventsStat(b, &m)
		errC := parseCgroupEvents(b, &e)
		if (errM == nil) != (errC == nil) {
			t.Fatalf("parsers disagree on syntax: %v vs %v", errM, errC)
		}
		if errM == nil && m.OOM != 0 && !bytes.Contains(b, []byte("oom ")) {
			t.Fatalf("oom %d from input without an oom line", m.OOM)
		}
	})
}

func BenchmarkParseMemoryEvents(b *testing.B) {
	buf := []byte(memEventsSample)
	var ev MemoryEvents
	b.ReportAllocs()
	for b.Loop() {
		if err := parseMemoryEventsStat(buf, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCgroupEvents(b *testing.B) {
	buf := []byte("populated 1\nfrozen 0\n")
	var ev cgEvents
	b.ReportAllocs()
	for b.Loop() {
		if err := parseCgroupEvents(buf, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
