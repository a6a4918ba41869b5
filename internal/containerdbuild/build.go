package containerdbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/confinelab/confine/internal/cachedir"
)

// Version is the containerd release the commands are built from.
const Version = "v2.4.2"

// CrictlVersion is the cri-tools release crictl is built from: the CRI
// client the CRI test drives containerd's CRI plugin with.
const CrictlVersion = "v1.37.0"

// CNIVersion is the containernetworking/plugins release the CNI plugins
// are built from: the pod network of the CRI test.
const CNIVersion = "v1.10.0"

// Commands are the binaries Build makes in Bins.Dir, each named as
// containerd names it (containerd finds the shim by this name in PATH).
var Commands = []string{"containerd", "ctr", "containerd-shim-runc-v2", "crictl"}

// CNIPlugins are the CNI plugins Build makes in Bins.CNIDir: a bridge
// with host-local addresses, and loopback, which containerd's CRI plugin
// runs on every pod's lo. They live apart from Commands, whose directory
// is in containerd's PATH, as a CNI bin_dirs entry of their own.
var CNIPlugins = []string{"bridge", "host-local", "loopback"}

// A part is one module's commands, built in a scratch module of its own so
// that one module's requirements never raise another's (Go's minimal
// version selection would, in one build list), and stamped on its own.
type part struct {
	module, version string
	cmds            []string // package paths below module
	subdir          string   // where below Bins.Dir the commands go
	tags            string
	ldflags         string
	stampName       string
}

// parts are what Build makes. containerd's stamp keeps the name and content
// it had before crictl was added, so a build made by an older harness (or
// another branch sharing the cache) stays valid and only crictl is added.
var parts = []part{{
	module:  "github.com/containerd/containerd/v2",
	version: Version,
	cmds:    []string{"cmd/containerd", "cmd/ctr", "cmd/containerd-shim-runc-v2"},
	// The snapshotters these drop need cgo (btrfs) or host tools and
	// kernel features the VM has no use for.
	tags:      "no_btrfs no_devmapper no_zfs no_aufs",
	ldflags:   "-s -w -X github.com/containerd/containerd/v2/version.Version=" + Version,
	stampName: ".complete",
}, {
	module:    "sigs.k8s.io/cri-tools",
	version:   CrictlVersion,
	cmds:      []string{"cmd/crictl"},
	ldflags:   "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=" + CrictlVersion,
	stampName: ".crictl-complete",
}, {
	module:    "github.com/containernetworking/plugins",
	version:   CNIVersion,
	cmds:      []string{"plugins/main/bridge", "plugins/ipam/host-local", "plugins/main/loopback"},
	subdir:    cniSubdir,
	ldflags:   "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=" + CNIVersion,
	stampName: ".cni-complete",
}}

const (
	scratchModule = "confine.test/containerdbuild"
	// unavailableName holds why a build could not be made (MarkUnavailable).
	unavailableName = "UNAVAILABLE"
	// genVersion changes whenever what Build writes changes, so a build
	// made by an older harness is redone.
	genVersion = "1"
	cniSubdir  = "cni"
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
	return fmt.Sprintf("containerdbuild: containerd %s, crictl %s and the CNI plugins %s not built: %v: %s",
		Version, CrictlVersion, CNIVersion, ErrUnreachable, e.Reason)
}

// Is makes errors.Is(err, ErrUnreachable) work.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// Bins is a directory holding the built Commands.
type Bins struct {
	Dir string
}

// Path returns the path of one of Commands.
func (b *Bins) Path(command string) string { return filepath.Join(b.Dir, command) }

// CNIDir is the directory holding CNIPlugins: a CNI bin_dirs entry.
func (b *Bins) CNIDir() string { return filepath.Join(b.Dir, cniSubdir) }

// DefaultDir is where Build puts the binaries below cache (the test bed's
// $CONFINE_CACHE).
func DefaultDir(cache string) string { return filepath.Join(cache, "containerd") }

func (p part) stamp() string { return p.version + " " + genVersion + "\n" }

func (p part) String() string { return path.Base(p.module) + " " + p.version }

// complete tells whether dir holds p's stamp and its commands, each an
// executable file; the error says what is missing.
func (p part) complete(dir string) error {
	if b, err := os.ReadFile(filepath.Join(dir, p.stampName)); err != nil || string(b) != p.stamp() {
		return fmt.Errorf("containerdbuild: %s holds no build of %s (`make containerd` makes it)", dir, p)
	}
	for _, c := range p.cmds {
		bin := p.bin(dir, c)
		fi, err := os.Stat(bin)
		if err != nil {
			return fmt.Errorf("containerdbuild: %w", err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("containerdbuild: %s: not an executable file", bin)
		}
	}
	return nil
}

// bin is where below dir p puts its command cmd (a package path).
func (p part) bin(dir, cmd string) string {
	return filepath.Join(dir, p.subdir, path.Base(cmd))
}

// Open returns the binaries Build made in dir. When dir records that the
// module proxy was unreachable (MarkUnavailable), the error is an
// *UnreachableError with the recorded reason.
func Open(dir string) (*Bins, error) {
	var err error
	for _, p := range parts {
		if err = p.complete(dir); err != nil {
			break
		}
	}
	if err == nil {
		return &Bins{Dir: dir}, nil
	}
	if b, rerr := os.ReadFile(filepath.Join(dir, unavailableName)); rerr == nil {
		return nil, &UnreachableError{Reason: strings.TrimSpace(string(b))}
	}
	return nil, err
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

// Build makes the Commands in dir, and the CNIPlugins in its cni
// directory (Bins.CNIDir), unless they are there already: for each
// part, a scratch module requiring its module at its version, built with
// CGO_ENABLED=0. It needs the go command and the module proxy (or a module
// cache holding the modules); the go commands it runs are logged to log.
// A failure for want of the network is an *UnreachableError.
//
// A directory holding containerd's part whole keeps it, and only the
// missing parts are added (crictl or the CNI plugins, to a cache made
// before they were built).
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
	if parts[0].complete(dir) == nil {
		if err := addParts(ctx, tmp, dir, log); err != nil {
			return nil, err
		}
		return Open(dir)
	}
	for _, p := range parts {
		if err := build(ctx, p, tmp, log); err != nil {
			return nil, err
		}
		if p.stampName != parts[0].stampName { // Publish writes the first
			if err := os.WriteFile(filepath.Join(tmp, p.stampName), []byte(p.stamp()), 0o644); err != nil {
				return nil, err
			}
		}
	}
	if err := cachedir.Publish(tmp, dir, parts[0].stampName, parts[0].stamp()); err != nil {
		return nil, err
	}
	return Open(dir)
}

// addParts builds the parts dir lacks in tmp and moves them into dir, each
// binary renamed into place before its stamp is, so a stamp always means
// its binaries are whole.
func addParts(ctx context.Context, tmp, dir string, log io.Writer) error {
	for _, p := range parts[1:] {
		if p.complete(dir) == nil {
			continue
		}
		if err := build(ctx, p, tmp, log); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, p.subdir), 0o755); err != nil {
			return err
		}
		for _, c := range p.cmds {
			if err := os.Rename(p.bin(tmp, c), p.bin(dir, c)); err != nil {
				return err
			}
		}
		st := filepath.Join(tmp, p.stampName)
		if err := os.WriteFile(st, []byte(p.stamp()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(st, filepath.Join(dir, p.stampName)); err != nil {
			return err
		}
	}
	// Built now: a reason recorded by an earlier attempt no longer holds.
	if err := os.Remove(filepath.Join(dir, unavailableName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// scratch returns the go.mod and tools.go of p's scratch module.
func (p part) scratch() (gomod, tools string) {
	gomod = fmt.Sprintf("module %s\n\ngo 1.24\n\nrequire %s %s\n", scratchModule, p.module, p.version)
	var imports strings.Builder
	for _, c := range p.cmds {
		fmt.Fprintf(&imports, "\t_ %q\n", p.module+"/"+c)
	}
	// The build tag keeps the go command from building this file; tidy
	// still reads its imports.
	tools = "//go:build tools\n\npackage tools\n\nimport (\n" + imports.String() + ")\n"
	return gomod, tools
}

// build writes p's scratch module into out/src, resolves it and builds
// p's commands into out (out/p.subdir); src is removed afterwards (only
// binaries are shipped).
func build(ctx context.Context, p part, out string, log io.Writer) error {
	src := filepath.Join(out, "src")
	for _, d := range []string{src, filepath.Join(out, p.subdir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	defer os.RemoveAll(src)
	gomod, tools := p.scratch()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "tools.go"), []byte(tools), 0o644); err != nil {
		return err
	}
	if err := goCmd(ctx, src, log, "mod", "tidy"); err != nil {
		return err
	}
	args := []string{"build", "-ldflags", p.ldflags, "-o", filepath.Join(out, p.subdir) + "/"}
	if p.tags != "" {
		args = append(args, "-tags", p.tags)
	}
	for _, c := range p.cmds {
		args = append(args, p.module+"/"+c)
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
