package vmtest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// baseFormat changes whenever the base image's layout changes, so stale
// cached images are not reused.
const baseFormat = "vmtest-base-4"

// Busybox is where busybox-static installs its binary.
const Busybox = "/bin/busybox"

// tree writes a cpio archive, adding each parent directory before its
// first child (the kernel's unpacker does not create missing parents).
type tree struct {
	*CPIOWriter
	dirs map[string]bool
}

func newTree(w io.Writer) *tree { return &tree{CPIOWriter: NewCPIOWriter(w), dirs: map[string]bool{}} }

func (t *tree) mkdirAll(dir string) error {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir == "" || t.dirs[dir] {
		return nil
	}
	if err := t.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	t.dirs[dir] = true
	return t.Dir(dir, 0o755)
}

func (t *tree) file(name string, perm uint32, data []byte) error {
	if err := t.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	return t.File(name, perm, data)
}

func (t *tree) symlink(name, target string) error {
	if err := t.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	return t.Symlink(name, target)
}

// copyFile adds the host file src as name, keeping its permission bits.
func (t *tree) copyFile(name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := t.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	return t.FileFrom(name, uint32(st.Mode().Perm()), st.Size(), f)
}

// copyTree adds the host directory src (regular files, directories and
// symlinks) under name.
func (t *tree) copyTree(name, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := path.Join(name, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			return t.mkdirAll(dst)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return t.symlink(dst, target)
		case d.Type().IsRegular():
			return t.copyFile(dst, p)
		}
		return nil // sockets, fifos and devices are not test data
	})
}

// BaseImage returns the path of the cached base initramfs for kernel k:
// busybox with its applets, /init, the kernel modules and their
// modules.dep. It is built once and reused while its inputs are unchanged.
func BaseImage(cache string, k *Kernel) (string, error) {
	st, err := os.Stat(Busybox)
	if err != nil {
		return "", &MissingError{What: "busybox-static (" + Busybox + ")", Err: err}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%d %d\n%s\n%q %q\n", baseFormat, k.Version, st.Size(), st.ModTime().UnixNano(),
		initScript, RequiredModules, OptionalModules)
	out := filepath.Join(cache, "initramfs", "base-"+hex.EncodeToString(h.Sum(nil))[:16]+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("creating initramfs cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".base-*")
	if err != nil {
		return "", fmt.Errorf("creating initramfs cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := writeBase(bw, k); err != nil {
		tmp.Close()
		return "", fmt.Errorf("building base initramfs: %w", err)
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("building base initramfs: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", fmt.Errorf("building base initramfs: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("building base initramfs: %w", err)
	}
	// Rename is atomic: concurrent runners build the same image and one wins.
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("building base initramfs: %w", err)
	}
	return out, nil
}

func writeBase(w io.Writer, k *Kernel) error {
	t := newTree(w)
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "root", "mnt", "var/tmp", "etc", "lib", "newroot"} {
		if err := t.mkdirAll(d); err != nil {
			return err
		}
	}
	if err := t.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := writeBusybox(t); err != nil {
		return err
	}
	mods, err := writeModules(t, k)
	if err != nil {
		return err
	}
	files := map[string]string{
		"etc/passwd":          "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":           "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
		"etc/hosts":           "127.0.0.1 localhost confine-vm\n::1 localhost\n",
		"etc/hostname":        "confine-vm\n",
		"etc/confine-modules": strings.Join(mods, " ") + "\n",
	}
	for name, data := range files {
		if err := t.file(name, 0o644, []byte(data)); err != nil {
			return err
		}
	}
	if err := t.symlink("etc/mtab", "/proc/self/mounts"); err != nil {
		return err
	}
	if err := t.file("init", 0o755, []byte(initScript)); err != nil {
		return err
	}
	return t.Close()
}

// writeBusybox adds /bin/busybox and a /bin symlink for every applet it has;
// /sbin, /usr/bin and /usr/sbin point at /bin.
func writeBusybox(t *tree) error {
	out, err := exec.Command(Busybox, "--list").Output()
	if err != nil {
		return &MissingError{What: "a working busybox-static", Err: err}
	}
	if err := t.copyFile("bin/busybox", Busybox); err != nil {
		return err
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := t.symlink("bin/"+a, "busybox"); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"sbin": "bin", "usr/bin": "../bin", "usr/sbin": "../bin"} {
		if err := t.symlink(name, target); err != nil {
			return err
		}
	}
	return nil
}

// writeModules adds the required and optional modules with everything they
// depend on, a modules.dep for busybox modprobe, and returns the required
// modules that are loadable (not built in) for /init to load.
func writeModules(t *tree, k *Kernel) ([]string, error) {
	all, err := ScanModules(k.Modules)
	if err != nil {
		return nil, fmt.Errorf("scanning modules: %w", err)
	}
	builtin, _ := os.ReadFile(filepath.Join(k.Modules, "modules.builtin"))
	isBuiltin := func(name string) bool {
		for _, l := range strings.Split(string(builtin), "\n") {
			if moduleName(l) == name {
				return true
			}
		}
		return false
	}
	req, missing, err := ModuleClosure(k.Modules, all, RequiredModules)
	if err != nil {
		return nil, err
	}
	var load []string
	for _, m := range RequiredModules {
		if !isBuiltin(m) && !contains(missing, m) {
			load = append(load, m)
		}
		if contains(missing, m) && !isBuiltin(m) {
			return nil, fmt.Errorf("required module %s is neither in %s nor built in", m, k.Modules)
		}
	}
	opt, _, err := ModuleClosure(k.Modules, all, OptionalModules)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var mods []*Module
	for _, m := range append(req, opt...) {
		if !seen[m.Name] {
			seen[m.Name] = true
			mods = append(mods, m)
		}
	}
	base := "lib/modules/" + k.Version
	for _, m := range mods {
		if err := t.copyFile(base+"/"+filepath.ToSlash(m.Path), filepath.Join(k.Modules, m.Path)); err != nil {
			return nil, err
		}
	}
	if err := t.file(base+"/modules.dep", 0o644, ModulesDep(mods)); err != nil {
		return nil, err
	}
	if err := t.file(base+"/modules.builtin", 0o644, bytes.TrimSpace(builtin)); err != nil {
		return nil, err
	}
	return load, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// WriteRunImage writes the per-run initramfs to w: the cached base image
// followed by a second cpio member holding the test binary, the package's
// testdata directory (when pkgDir has one), /test/run.sh and files (host
// files or directories, each at its own absolute path). The kernel
// unpacks concatenated archives in turn.
func WriteRunImage(w io.Writer, base, binary string, pkgDir string, script string, files ...string) error {
	f, err := os.Open(base)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("copying base initramfs: %w", err)
	}
	t := newTree(w)
	if err := t.copyFile(vmBinDir+"/"+filepath.Base(binary), binary); err != nil {
		return fmt.Errorf("adding test binary: %w", err)
	}
	if err := t.mkdirAll(vmPkgDir); err != nil {
		return err
	}
	if pkgDir != "" {
		td := filepath.Join(pkgDir, "testdata")
		if st, err := os.Stat(td); err == nil && st.IsDir() {
			if err := t.copyTree(vmPkgDir+"/testdata", td); err != nil {
				return fmt.Errorf("adding testdata: %w", err)
			}
		}
	}
	if err := t.file(vmRunFile, 0o644, []byte(script)); err != nil {
		return err
	}
	for _, f := range files {
		if err := t.copyTree(filepath.ToSlash(filepath.Clean(f)), f); err != nil {
			return fmt.Errorf("adding %s: %w", f, err)
		}
	}
	return t.Close()
}
