package ocisuite

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/confinelab/confine/internal/cachedir"
)

// Version is the runtime-tools release the suite is built from.
const Version = "v0.9.0"

const (
	toolsModule   = "github.com/opencontainers/runtime-tools"
	scratchModule = "confine.test/ocisuite"
	binaryName    = "oci-validation"
	rootfsName    = "rootfs-amd64.tar.gz"
	programsName  = "programs"
	stampName     = ".complete"
	// genVersion changes whenever what Build writes changes, so a suite
	// built by an older harness is rebuilt.
	genVersion = "2"
)

// pins are the versions v0.9.0 builds with (it predates Go modules; its
// Godeps are older than anything the proxy resolves by itself): later
// runtime-spec and urfave/cli releases break its code, later selinux
// releases need cgo.
var pins = map[string]string{
	toolsModule:                              Version,
	"github.com/opencontainers/runtime-spec": "v1.0.2",
	"github.com/urfave/cli":                  "v1.19.1",
	"github.com/opencontainers/selinux":      "v1.10.0",
}

// DefaultDir is where Build puts the suite below cache (the test bed's
// $CONFINE_CACHE).
func DefaultDir(cache string) string {
	return filepath.Join(cache, "ocisuite", "runtime-tools-"+Version)
}

// Build makes the suite in dir unless it is there already: a scratch Go
// module (in dir/src) requiring runtime-tools at Version with the pins,
// its validation programs and runtimetest rewritten into one binary,
// built with CGO_ENABLED=0, and the rootfs tarball the programs unpack.
// It needs the go command and the module proxy (or a module cache that
// holds the modules); progress goes to log. The built suite needs neither.
func Build(ctx context.Context, dir string, log io.Writer) (*Suite, error) {
	if b, err := os.ReadFile(filepath.Join(dir, stampName)); err == nil && string(b) == genVersion {
		return Open(dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	// Built beside dir and renamed into place: a suite is whole or absent.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := &builder{ctx: ctx, dir: tmp, src: filepath.Join(tmp, "src"), log: log}
	for _, step := range []func() error{b.module, b.generate, b.tidy, b.build, b.rootfs} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("ocisuite: building runtime-tools %s: %w", Version, err)
		}
	}
	if err := cachedir.Publish(tmp, dir, stampName, genVersion); err != nil {
		return nil, err
	}
	return Open(dir)
}

type builder struct {
	ctx      context.Context
	dir, src string
	log      io.Writer
	tools    string // the runtime-tools module directory in the module cache
	programs []string
}

// goCmd runs the go command in the scratch module, without a workspace or
// cgo, resolving modules as go.mod says.
func (b *builder) goCmd(args ...string) ([]byte, error) {
	cmd := exec.CommandContext(b.ctx, "go", args...)
	cmd.Dir = b.src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fmt.Fprintf(b.log, "ocisuite: go %s\n", strings.Join(args, " "))
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// module writes go.mod and finds runtime-tools in the module cache (go
// mod tidy raises the go directive to what the dependencies declare).
func (b *builder) module() error {
	if err := os.MkdirAll(b.src, 0o755); err != nil {
		return err
	}
	var req []string
	for m, v := range pins {
		req = append(req, "\t"+m+" "+v+"\n")
	}
	sort.Strings(req)
	mod := "module " + scratchModule + "\n\ngo 1.16\n\nrequire (\n" + strings.Join(req, "") + ")\n"
	if err := os.WriteFile(filepath.Join(b.src, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	out, err := b.goCmd("mod", "download", "-json", toolsModule+"@"+Version)
	if err != nil {
		return err
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return fmt.Errorf("go mod download: %w", err)
	}
	if info.Dir == "" {
		return fmt.Errorf("go mod download %s@%s: %s", toolsModule, Version, info.Error)
	}
	b.tools = info.Dir
	return nil
}

// generate rewrites validation/*/ and cmd/runtimetest/ into p/NAME and
// writes the dispatcher.
func (b *builder) generate() error {
	ents, err := os.ReadDir(filepath.Join(b.tools, "validation"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && e.Name() != "util" {
			if err := b.program(e.Name(), filepath.Join(b.tools, "validation", e.Name())); err != nil {
				return err
			}
		}
	}
	if err := b.program("runtimetest", filepath.Join(b.tools, "cmd", "runtimetest")); err != nil {
		return err
	}
	all := append([]string{"runtimetest"}, b.programs...)
	return os.WriteFile(filepath.Join(b.src, "main.go"), dispatcher(scratchModule, all), 0o644)
}

// program rewrites the package main in dir into p/name.
func (b *builder) program(name, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return err
	}
	out := filepath.Join(b.src, "p", name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	found := false
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		code, hasMain, err := rewriteMain(f, src)
		if err != nil {
			return err
		}
		found = found || hasMain
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), code, 0o644); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("%s: no func main", dir)
	}
	if name != "runtimetest" {
		b.programs = append(b.programs, name)
	}
	return nil
}

// tidy resolves the programs' imports and checks that the pins held: a
// minimal version selection that raised one would build something else
// than v0.9.0 as released.
func (b *builder) tidy() error {
	if _, err := b.goCmd("mod", "tidy"); err != nil {
		return err
	}
	out, err := b.goCmd("list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	if err != nil {
		return err
	}
	got := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if p, v, ok := strings.Cut(l, " "); ok {
			got[p] = v
		}
	}
	for m, v := range pins {
		if got[m] != v {
			return fmt.Errorf("go.mod resolved %s %s, want %s", m, got[m], v)
		}
	}
	return nil
}

func (b *builder) build() error {
	_, err := b.goCmd("build", "-trimpath", "-o", filepath.Join(b.dir, binaryName), ".")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, programsName), []byte(strings.Join(b.programs, "\n")+"\n"), 0o644)
}

// rootfs copies the module's rootfs tarball, decompressed: the programs
// run `tar -xf rootfs-amd64.tar.gz`, and the VM's busybox tar does not
// detect gzip by itself (GNU tar reads a plain tar under that name too).
func (b *builder) rootfs() error {
	in, err := os.Open(filepath.Join(b.tools, rootfsName))
	if err != nil {
		return err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", rootfsName, err)
	}
	out, err := os.Create(filepath.Join(b.dir, rootfsName))
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, zr); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", rootfsName, err)
	}
	return errors.Join(zr.Close(), out.Close())
}
