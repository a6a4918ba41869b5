package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDynamicFiles: for a dynamically linked host program the closure
// holds the program, the interpreter, every library ldd names, and what
// each link among them ends at; a static one is alone; a relative path and
// a missing file are errors.
func TestDynamicFiles(t *testing.T) {
	prog, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("no ls on this host")
	}
	prog, _ = filepath.Abs(prog)
	files, err := DynamicFiles(prog)
	if err != nil {
		t.Fatal(err)
	}
	if files[0] != prog {
		t.Errorf("first file %q, want the program %q", files[0], prog)
	}
	out, err := exec.Command("ldd", prog).Output()
	if err != nil {
		t.Skipf("ldd %s: %v (not a dynamic program here?)", prog, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, w := range strings.Fields(line) {
			if !strings.HasPrefix(w, "/") {
				continue
			}
			// ldd prints the loader's choice; resolve both to the file.
			want, _ := filepath.EvalSymlinks(w)
			if !slices.ContainsFunc(files, func(f string) bool {
				r, _ := filepath.EvalSymlinks(f)
				return r == want
			}) {
				t.Errorf("ldd names %s (%s), missing from %q", w, want, files)
			}
		}
	}
	for _, f := range files {
		st, err := os.Lstat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode()&os.ModeSymlink == 0 {
			continue
		}
		target, _ := os.Readlink(f)
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(f), target)
		}
		if !slices.Contains(files, filepath.Clean(target)) {
			t.Errorf("link %s -> %s: its target is not carried", f, target)
		}
	}

	if fi, err := os.Stat(Busybox); err == nil && fi.Mode().IsRegular() {
		got, err := DynamicFiles(Busybox)
		if err != nil || !slices.Equal(got, []string{Busybox}) {
			t.Errorf("static %s: %q, %v; want itself alone", Busybox, got, err)
		}
	}
	if _, err := DynamicFiles("bin/ls"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative path: %v, want an error", err)
	}
	if _, err := DynamicFiles("/nonexistent/prog"); err == nil {
		t.Error("missing program: no error")
	}
}
