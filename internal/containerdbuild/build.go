package containerdbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/confinelab/confine/internal/cachedir"
)

// Version is the containerd release the commands are built from.
const Version = "v2.4.2"

// Commands are the binaries Build makes, each named as containerd names it
// (containerd finds the shim by this name in PATH).
var Commands = []string{"containerd", "ctr", "containerd-shim-runc-v2"}

const (
	module        = "github.com/containerd/containerd/v2"
	scratchModule = "confine.test/containerdbuild"
	// The snapshotters these drop need cgo (btrfs) or host tools and
	// kernel features the VM has no use for.
	buildTags = "no_btrfs no_devmapper no_zfs no_aufs"
	stampName = ".complete"
	// unavailableName holds why a build could not be made (MarkUnavailable).
	unavailableName = "UNAVAILABLE"
	// genVersion changes whenever what Build writes changes, so a build
	// made by an older harness is redone.
	genVersion = "1"
)

// ErrUnreachable matches every *UnreachableError.
var ErrUnreachable = errors.New("the Go module proxy cannot be reached")

// UnreachableError is a build that failed for want of the network: the go
// command could not reach the module proxy (or was told not to, GOPROXY=off)
// and the module cache lacks what it needed.
type UnreachableError struct {
	Reason string // the go command's message
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("containerdbuild: containerd %s not built: %v: %s", Version, ErrUnreachable, e.Reason)
}

// Is makes errors.Is(err, ErrUnreachable) work.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// Bins is a directory holding the built Commands.
type Bins struct {
	Dir string
}

// Path returns the path of one of Commands.
func (b *Bins) Path(command string) string { return filepath.Join(b.Dir, command) }

// DefaultDir is where Build puts the binaries below cache (the test bed's
// $CONFINE_CACHE).
func DefaultDir(cache string) string { return filepath.Join(cache, "containerd") }

func stamp() string { return Version + " " + genVersion + "\n" }

// Open returns the binaries Build made in dir. When dir records that the
// module proxy was unreachable (MarkUnavailable), the error is an
// *UnreachableError with the recorded reason.
func Open(dir string) (*Bins, error) {
	if b, err := os.ReadFile(filepath.Join(dir, stampName)); err == nil && string(b) == stamp() {
		for _, c := range Commands {
			fi, err := os.Stat(filepath.Join(dir, c))
			if err != nil {
				return nil, fmt.Errorf("containerdbuild: %w", err)
			}
			if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
				return nil, fmt.Errorf("containerdbuild: %s/%s: not an executable file", dir, c)
			}
		}
		return &Bins{Dir: dir}, nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, unavailableName)); err == nil {
		return nil, &UnreachableError{Reason: strings.TrimSpace(string(b))}
	}
	return nil, fmt.Errorf("containerdbuild: %s holds no build of containerd %s (`make containerd` makes it)", dir, Version)
}

// MarkUnavailable records in dir why the binaries could not be built, for
// Open to report where the build cannot be retried (the VM).
func MarkUnavailable(dir string, why error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	reason := why.Error()
	if ue := (*UnreachableError)(nil); errors.As(why, &ue) {
		reason = ue.Reason // Open wraps it again
	}
	return os.WriteFile(filepath.Join(dir, unavailableName), []byte(reason+"\n"), 0o644)
}

// Build makes the Commands in dir unless they are there already: a
// scratch module requiring containerd at Version, built with
// CGO_ENABLED=0. It needs the go command and the module proxy (or a module
// cache holding the modules); the go commands it runs are logged to log.
// A failure for want of the network is an *UnreachableError.
func Build(ctx context.Context, dir string, log io.Writer) (*Bins, error) {
	if b, err := Open(dir); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	// Built beside dir and renamed into place: a build is whole or absent.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := build(ctx, tmp, log); err != nil {
		return nil, err
	}
	if err := cachedir.Publish(tmp, dir, stampName, stamp()); err != nil {
		return nil, err
	}
	return Open(dir)
}

// build writes the scratch module into out/src, resolves it and builds the
// commands into out; src is removed afterwards (only binaries are shipped).
func build(ctx context.Context, out string, log io.Writer) error {
	src := filepath.Join(out, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(src)
	mod := fmt.Sprintf("module %s\n\ngo 1.24\n\nrequire %s %s\n", scratchModule, module, Version)
	var imports strings.Builder
	for _, c := range Commands {
		fmt.Fprintf(&imports, "\t_ %q\n", module+"/cmd/"+c)
	}
	// The build tag keeps the go command from building this file; tidy
	// still reads its imports.
	tools := "//go:build tools\n\npackage tools\n\nimport (\n" + imports.String() + ")\n"
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "tools.go"), []byte(tools), 0o644); err != nil {
		return err
	}
	if err := goCmd(ctx, src, log, "mod", "tidy"); err != nil {
		return err
	}
	args := []string{"build", "-tags", buildTags,
		"-ldflags", "-s -w -X " + module + "/version.Version=" + Version,
		"-o", out + "/"}
	for _, c := range Commands {
		args = append(args, module+"/cmd/"+c)
	}
	return goCmd(ctx, src, log, args...)
}

// goCmd runs the go command in dir, without a workspace or cgo, resolving
// modules as go.mod says and with the local toolchain only.
func goCmd(ctx context.Context, dir string, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"),
		"CGO_ENABLED=0", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fmt.Fprintf(log, "containerdbuild: go %s\n", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if line := unreachable(msg); line != "" {
			return &UnreachableError{Reason: line}
		}
		return fmt.Errorf("containerdbuild: go %s: %w\n%s", strings.Join(args, " "), err, msg)
	}
	return nil
}

// netErrors are what the go command says when it could not fetch a module:
// from net (DNS, TCP), crypto/tls, net/http, and its own GOPROXY=off.
var netErrors = []string{
	"dial tcp", "no such host", "connection refused", "connection reset",
	"network is unreachable", "i/o timeout", "TLS handshake timeout",
	"Client.Timeout exceeded", "module lookup disabled by GOPROXY=off",
}

// unreachable tells a go command failure for want of the network from
// one in the build itself: it returns the first line of msg saying so, or
// "".
func unreachable(msg string) string {
	for _, line := range strings.Split(msg, "\n") {
		for _, s := range netErrors {
			if strings.Contains(line, s) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}
