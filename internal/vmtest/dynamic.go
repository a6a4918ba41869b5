package vmtest

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// libraryDirs are where the dynamic loader of a Debian amd64 host finds
// libraries without an ld.so.cache (the VM has none), in its order.
var libraryDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// DynamicFiles returns what a dynamically linked host program needs in the
// VM to run there, for Config.Files: each program, its ELF interpreter and
// the shared libraries it needs (DT_NEEDED, transitively), each found as
// the loader would find it in libraryDirs, with every symbolic link on the
// way and the file it ends at, so that the links land in the image as
// links and their targets beside them. Programs are host paths (absolute);
// a statically linked one contributes only itself. An error names the
// program or library that cannot be resolved.
func DynamicFiles(programs ...string) ([]string, error) {
	c := closure{seen: map[string]bool{}}
	for _, p := range programs {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("vmtest: DynamicFiles: %q: want an absolute path", p)
		}
		if err := c.object(p); err != nil {
			return nil, err
		}
	}
	return c.files, nil
}

type closure struct {
	files []string
	seen  map[string]bool
}

// object adds the ELF file at p (with its links) and what it needs.
func (c *closure) object(p string) error {
	if c.seen[p] {
		return nil
	}
	if err := c.links(p); err != nil {
		return err
	}
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("vmtest: DynamicFiles: %w", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return fmt.Errorf("vmtest: DynamicFiles: reading the interpreter of %s: %w", p, err)
		}
		if n := slices.Index(b, 0); n >= 0 {
			b = b[:n]
		}
		if err := c.links(string(b)); err != nil {
			return err
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return fmt.Errorf("vmtest: DynamicFiles: libraries of %s: %w", p, err)
	}
	for _, lib := range needed {
		found := ""
		for _, dir := range libraryDirs {
			if _, err := os.Stat(filepath.Join(dir, lib)); err == nil {
				found = filepath.Join(dir, lib)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("vmtest: DynamicFiles: %s needs %s, not found in %v", p, lib, libraryDirs)
		}
		if err := c.object(found); err != nil {
			return err
		}
	}
	return nil
}

// links adds p and, while the last element is a symbolic link, the path
// it names (relative targets taken from p's directory, as in the VM the
// same directories hold them), at most 40 links deep as the kernel allows.
func (c *closure) links(p string) error {
	for range 40 {
		if !c.seen[p] {
			c.seen[p] = true
			c.files = append(c.files, p)
		}
		st, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("vmtest: DynamicFiles: %w", err)
		}
		if st.Mode()&os.ModeSymlink == 0 {
			return nil
		}
		t, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("vmtest: DynamicFiles: %w", err)
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = filepath.Clean(t)
	}
	return fmt.Errorf("vmtest: DynamicFiles: %s: too many levels of symbolic links", p)
}
