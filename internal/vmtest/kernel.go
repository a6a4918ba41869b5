package vmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/confinelab/confine/internal"
)

// FixCommand is the command that installs what the runner needs.
const FixCommand = "make provision"

// DefaultCache is where provisioning puts the kernel and the runner keeps
// its cached initramfs, unless CONFINE_CACHE says otherwise.
const DefaultCache = "/var/cache/confine"

// MissingError reports that a tool or file the VM needs is absent.
type MissingError struct {
	What string // "qemu-system-x86_64", "kernel in /var/cache/confine/kernel"
	Err  error
}

func (e *MissingError) Error() string {
	msg := fmt.Sprintf("vmtest: %s is missing (run `%s` from the repository root, or `bash internal/vmtest/provision.sh`)", e.What, FixCommand)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *MissingError) Unwrap() error { return e.Err }

// CacheDir returns $CONFINE_CACHE or DefaultCache.
func CacheDir() string {
	if d := os.Getenv("CONFINE_CACHE"); d != "" {
		return d
	}
	return DefaultCache
}

// Kernel is an unpacked Debian kernel package.
type Kernel struct {
	Version string // "6.1.0-28-cloud-amd64"
	Image   string // path of vmlinuz
	Modules string // path of lib/modules/<version>
}

// FindKernel returns the newest kernel provisioned under cache/kernel.
func FindKernel(cache string) (*Kernel, error) {
	dirs, err := filepath.Glob(filepath.Join(cache, "kernel", "*", ".complete"))
	if err != nil || len(dirs) == 0 {
		return nil, &MissingError{What: "the VM kernel in " + filepath.Join(cache, "kernel"), Err: err}
	}
	var vers []string
	for _, d := range dirs {
		vers = append(vers, filepath.Base(filepath.Dir(d)))
	}
	sort.Slice(vers, func(i, j int) bool { return versionLess(vers[i], vers[j]) })
	v := vers[len(vers)-1]
	root := filepath.Join(cache, "kernel", v)
	k := &Kernel{
		Version: v,
		Image:   filepath.Join(root, "boot", "vmlinuz-"+v),
		Modules: filepath.Join(root, "lib", "modules", v),
	}
	for _, p := range []string{k.Image, k.Modules} {
		if _, err := os.Stat(p); err != nil {
			return nil, &MissingError{What: "the VM kernel file " + p, Err: err}
		}
	}
	return k, nil
}

// versionLess orders "6.1.0-28-cloud-amd64" before "6.1.0-30-cloud-amd64".
func versionLess(a, b string) bool {
	va, ea := internal.ParseVersion(a)
	vb, eb := internal.ParseVersion(b)
	if ea == nil && eb == nil && va != vb {
		return va.Less(vb)
	}
	return a < b
}

// findTool resolves a program in PATH or reports it as missing.
func findTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", &MissingError{What: name, Err: errors.Unwrap(err)}
	}
	return p, nil
}
