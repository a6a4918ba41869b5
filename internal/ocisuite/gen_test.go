package ocisuite

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

func TestRewriteMain(t *testing.T) {
	src := `package main

import "os"

// main is the program.
func main() {
	os.Exit(run())
}

func run() int { return 0 }

type T struct{}

func (T) main() {} // a method keeps its name
`
	out, hasMain, err := rewriteMain("x.go", []byte(src))
	if err != nil || !hasMain {
		t.Fatalf("rewriteMain: %v, hasMain %v", err, hasMain)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", out, parser.ParseComments)
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if f.Name.Name != programPkg {
		t.Errorf("package %s, want %s", f.Name.Name, programPkg)
	}
	for _, want := range []string{"// main is the program.\nfunc Main() {", "func (T) main() {}", "DO NOT EDIT"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A second file of the same program has no main.
	if _, hasMain, err := rewriteMain("y.go", []byte("package main\n\nfunc helper() {}\n")); err != nil || hasMain {
		t.Errorf("file without main: %v, hasMain %v", err, hasMain)
	}
	for name, bad := range map[string]string{
		"not main":       "package util\n",
		"has Main":       "package main\n\nfunc Main() {}\nfunc main() {}\n",
		"does not parse": "package main\nfunc (",
	} {
		if _, _, err := rewriteMain(name+".go", []byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDispatcher(t *testing.T) {
	src := dispatcher("example.test/m", []string{"kill", "default", "runtimetest"})
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", src, 0)
	if err != nil {
		t.Fatalf("dispatcher does not parse: %v\n%s", err, src)
	}
	if len(f.Imports) != 6 {
		t.Errorf("%d imports, want 3 programs + fmt, os, path/filepath", len(f.Imports))
	}
	for _, want := range []string{`p0 "example.test/m/p/default"`, `"kill": p1.Main`, `"runtimetest": p2.Main`, "filepath.Base(os.Args[0])"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("dispatcher lacks %q:\n%s", want, src)
		}
	}
}
