package vmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMarker(t *testing.T) {
	const n = "0123abcd"
	for _, tc := range []struct {
		line   string
		before string
		status int
		ok     bool
	}{
		{Marker(n, 0), "", 0, true},
		{Marker(n, 1), "", 1, true},
		{Marker(n, 255), "", 255, true},
		{"PASS" + Marker(n, 0), "PASS", 0, true}, // test output without a final newline
		// A kernel message on the same line, before and after the marker.
		{"[   12.345678] Memory cgroup out of memory: Killed process 42 " + Marker(n, 2), "[   12.345678] Memory cgroup out of memory: Killed process 42 ", 2, true},
		{Marker(n, 3) + "[   12.3] reboot: Power down", "", 3, true},
		{Marker(n, 17) + "7", "", 177, true},
		{Marker("othernonce", 0), Marker("othernonce", 0), 0, false}, // a test faking the marker
		{"CONFINE-VM-EXIT[" + n + "]=", "CONFINE-VM-EXIT[" + n + "]=", 0, false},
		{"CONFINE-VM-EXIT[" + n + "]=x", "CONFINE-VM-EXIT[" + n + "]=x", 0, false},
		{"CONFINE-VM-EXIT[" + n + "]=256", "CONFINE-VM-EXIT[" + n + "]=256", 0, false},
		{"ok  \tpkg\t0.1s", "ok  \tpkg\t0.1s", 0, false},
	} {
		before, status, ok := ParseMarker(tc.line, n)
		if before != tc.before || status != tc.status || ok != tc.ok {
			t.Errorf("ParseMarker(%q) = %q, %d, %v; want %q, %d, %v", tc.line, before, status, ok, tc.before, tc.status, tc.ok)
		}
	}
	if _, _, ok := ParseMarker(Marker("", 0), ""); ok {
		t.Error("empty nonce matched")
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add("[ 1.0] oops CONFINE-VM-EXIT[n]=1 tail", "n")
	f.Add("CONFINE-VM-EXIT[n]=", "n")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, line, nonce string) {
		before, status, ok := ParseMarker(line, nonce)
		if !ok {
			if before != line {
				t.Fatalf("no marker but before %q != line", before)
			}
			return
		}
		if status < 0 || status > 255 || !strings.HasPrefix(line, before) {
			t.Fatalf("ParseMarker(%q, %q) = %q, %d", line, nonce, before, status)
		}
		if !strings.HasPrefix(line[len(before):], Marker(nonce, status)) &&
			!strings.HasPrefix(line[len(before):], markerPrefix+nonce+"]=0") {
			t.Fatalf("status %d not at %q", status, line[len(before):])
		}
	})
}

func TestStream(t *testing.T) {
	const n = "feed"
	in := "=== RUN   TestX\r\n--- PASS: TestX\r\nPASS\r\n" +
		"[    3.1] random: crng init done " + Marker(n, 0) + "\r\n" + "after the marker\r\n"
	var out bytes.Buffer
	status, found := stream(strings.NewReader(in), &out, n)
	if !found || status != 0 {
		t.Fatalf("stream: status %d found %v", status, found)
	}
	want := "=== RUN   TestX\n--- PASS: TestX\nPASS\n[    3.1] random: crng init done \n"
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	out.Reset()
	if _, found := stream(strings.NewReader("panic: boom\nno marker"), &out, n); found {
		t.Fatal("found a marker that is not there")
	}
	if out.String() != "panic: boom\nno marker" {
		t.Fatalf("output %q", out.String())
	}
}

func TestConsoleExcerpt(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		name := filepath.Join(dir, "console.log")
		if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	panicLog := "boot\r\nsysrq: Trigger a crash\r\nKernel panic - not syncing: sysrq\r\nCall Trace:\r\n a\r\n b\r\n c\r\n"
	if got := consoleExcerpt(write(panicLog), 3); got != "Kernel panic - not syncing: sysrq\nCall Trace:\n a" {
		t.Errorf("panic excerpt %q", got)
	}
	if got := consoleExcerpt(write("1\n2\n3\n4\n"), 2); got != "3\n4" {
		t.Errorf("tail excerpt %q", got)
	}
	if got := consoleExcerpt(filepath.Join(dir, "missing"), 2); got != "" {
		t.Errorf("missing file gave %q", got)
	}
}
