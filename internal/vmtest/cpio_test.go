package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type cpioEntry struct {
	name  string
	mode  uint32
	rdev  [2]uint32
	data  []byte
	nlink uint32
}

// readCPIO is a strict newc reader for the tests: it checks the magic, the
// 4-byte alignment and the trailer, and returns the entries and the
// remaining bytes (the next concatenated archive).
func readCPIO(b []byte) ([]cpioEntry, []byte, error) {
	var out []cpioEntry
	off := 0
	align := func() { off = (off + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			return nil, nil, fmt.Errorf("short header at %d", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			return nil, nil, fmt.Errorf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				panic(err)
			}
			return uint32(v)
		}
		mode, nlink, size, namesize := field(1), field(4), int(field(6)), int(field(11))
		off += 110
		if off+namesize > len(b) || namesize == 0 || b[off+namesize-1] != 0 {
			return nil, nil, fmt.Errorf("bad name at %d", off)
		}
		name := string(b[off : off+namesize-1])
		off += namesize
		align()
		if off+size > len(b) {
			return nil, nil, fmt.Errorf("short data for %s", name)
		}
		data := b[off : off+size]
		off += size
		align()
		if name == "TRAILER!!!" {
			return out, b[off:], nil
		}
		out = append(out, cpioEntry{name: name, mode: mode, rdev: [2]uint32{field(9), field(10)}, data: data, nlink: nlink})
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Dir("/bin", 0o755))
	must(w.File("bin/odd", 0o755, []byte("12345"))) // 5 bytes: needs padding
	must(w.Symlink("bin/sh", "busybox"))
	must(w.CharDev("dev/console", 0o600, 5, 1))
	must(w.FileFrom("big", 0o644, 3, bytes.NewReader([]byte("abcdef"))))
	must(w.Close())
	must(w.Close()) // idempotent
	if buf.Len()%4 != 0 {
		t.Fatalf("archive length %d not 4-aligned", buf.Len())
	}
	// A second member appended, as the runner does.
	w2 := NewCPIOWriter(&buf)
	must(w2.File("test/run.sh", 0o644, []byte("echo\n")))
	must(w2.Close())

	got, rest, err := readCPIO(buf.Bytes())
	must(err)
	want := []cpioEntry{
		{name: "bin", mode: modeDir | 0o755, nlink: 2},
		{name: "bin/odd", mode: modeFile | 0o755, data: []byte("12345"), nlink: 1},
		{name: "bin/sh", mode: modeSymlink | 0o777, data: []byte("busybox"), nlink: 1},
		{name: "dev/console", mode: modeCharDev | 0o600, rdev: [2]uint32{5, 1}, nlink: 1},
		{name: "big", mode: modeFile | 0o644, data: []byte("abc"), nlink: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries\n got %v\nwant %v", got, want)
	}
	got2, rest2, err := readCPIO(rest)
	must(err)
	if len(got2) != 1 || got2[0].name != "test/run.sh" || len(rest2) != 0 {
		t.Fatalf("second member: %v, %d bytes left", got2, len(rest2))
	}
}

func TestCPIOWriterErrors(t *testing.T) {
	w := NewCPIOWriter(&bytes.Buffer{})
	for _, name := range []string{"", "/", "a\x00b"} {
		if err := w.File(name, 0o644, nil); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if err := w.FileFrom("short", 0o644, 10, bytes.NewReader([]byte("abc"))); err == nil {
		t.Error("short reader accepted")
	}
	w = NewCPIOWriter(&bytes.Buffer{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.File("late", 0o644, nil); err == nil {
		t.Error("write after Close accepted")
	}
}

func FuzzCPIORoundTrip(f *testing.F) {
	f.Add("bin/busybox", []byte("\x7fELF"), uint32(0o755))
	f.Add("a", []byte{}, uint32(0o644))
	f.Add("very/long/path/name/xyz", bytes.Repeat([]byte{1}, 1023), uint32(0o4755))
	f.Fuzz(func(t *testing.T, name string, data []byte, perm uint32) {
		var buf bytes.Buffer
		w := NewCPIOWriter(&buf)
		if err := w.File(name, perm, data); err != nil {
			return // invalid names are rejected, never panic
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, rest, err := readCPIO(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !bytes.Equal(got[0].data, data) || got[0].mode != modeFile|perm&0o7777 || len(rest) != 0 {
			t.Fatalf("round trip of %q: %v", name, got)
		}
	})
}

// TestRunImageFiles: Config.Files land in the run image at their own
// absolute paths, directories with their contents and modes, after the
// base image and beside the test binary.
func TestRunImageFiles(t *testing.T) {
	host := t.TempDir()
	base := filepath.Join(host, "base.cpio")
	var b bytes.Buffer
	w := NewCPIOWriter(&b)
	if err := w.File("init", 0o755, []byte("#!/bin/sh\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	suite := filepath.Join(host, "suite")
	for name, data := range map[string]string{"bin/prog": "#!prog", "list": "a\nb\n", "bin/tool": "tool"} {
		p := filepath.Join(suite, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	single := filepath.Join(host, "one.txt")
	if err := os.WriteFile(single, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{base, single} {
		if err := os.WriteFile(f+".keep", nil, 0o600); err != nil { // an unrelated neighbour, never shipped
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(base, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if err := WriteRunImage(&img, base, single, "", "true\n", suite, single); err != nil {
		t.Fatal(err)
	}
	_, rest, err := readCPIO(img.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := readCPIO(rest)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cpioEntry{}
	for _, e := range entries {
		got["/"+strings.TrimPrefix(e.name, "/")] = e
	}
	for name, want := range map[string]string{
		suite + "/bin/prog": "#!prog", suite + "/list": "a\nb\n", suite + "/bin/tool": "tool", single: "one",
	} {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s not in the image", name)
			continue
		}
		if string(e.data) != want || e.mode&0o7777 != map[bool]uint32{true: 0o600, false: 0o750}[name == single] {
			t.Errorf("%s: %q mode %o", name, e.data, e.mode&0o7777)
		}
	}
	if e, ok := got[suite+"/bin"]; !ok || e.mode&modeDir == 0 {
		t.Errorf("%s/bin: not a directory in the image (%v)", suite, ok)
	}
	for name := range got {
		if strings.HasSuffix(name, ".keep") {
			t.Errorf("%s shipped, but only the listed files were asked for", name)
		}
	}
}
