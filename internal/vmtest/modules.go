package vmtest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// RequiredModules are loaded by /init at boot: the test bed promises them.
var RequiredModules = []string{"veth", "loop", "sch_fq", "null_blk", "overlay"}

// OptionalModules are copied into the initramfs when the kernel has them, so
// tests can `modprobe` them, but are not loaded at boot. bridge (with stp
// and llc) carries the pod network of the CNI bridge plugin (TestVMCRI).
var OptionalModules = []string{
	"dummy", "tun", "sch_htb", "sch_tbf", "sch_netem",
	"sch_ingress", "cls_bpf", "act_bpf", "sch_prio", "ifb",
	"tcp_dctcp", "tcp_bbr", "bridge",
}

// Module is a loadable kernel module found in a modules tree.
type Module struct {
	Name    string   // "veth"
	Path    string   // relative to the modules directory, "kernel/drivers/net/veth.ko"
	Depends []string // direct dependencies by name, from the .modinfo section
}

// moduleName turns "kernel/drivers/net/veth.ko" into "veth"; the kernel
// treats '-' and '_' in module names alike.
func moduleName(path string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(path), ".ko"), "-", "_")
}

// ScanModules indexes every .ko file under dir (lib/modules/<version>) by
// name. Debian's kernel package ships no modules.dep (depmod makes it at
// install time), so dependencies are read from each module's .modinfo.
func ScanModules(dir string) (map[string]*Module, error) {
	mods := map[string]*Module{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".ko") {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		mods[moduleName(rel)] = &Module{Name: moduleName(rel), Path: rel}
		return nil
	})
	return mods, err
}

// readDepends fills m.Depends from the module's ELF .modinfo section.
func readDepends(dir string, m *Module) error {
	f, err := elf.Open(filepath.Join(dir, m.Path))
	if err != nil {
		return fmt.Errorf("reading module %s: %w", m.Name, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil
	}
	data, err := sec.Data()
	if err != nil {
		return fmt.Errorf("reading .modinfo of %s: %w", m.Name, err)
	}
	m.Depends = ParseModinfoDepends(data)
	return nil
}

// ParseModinfoDepends returns the names in the "depends=" field of a
// .modinfo section (NUL-separated key=value strings).
func ParseModinfoDepends(modinfo []byte) []string {
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("depends="))
		if !ok {
			continue
		}
		var out []string
		for _, d := range strings.Split(string(v), ",") {
			if d = strings.TrimSpace(d); d != "" {
				out = append(out, strings.ReplaceAll(d, "-", "_"))
			}
		}
		return out
	}
	return nil
}

// ModuleClosure returns the modules named in want plus everything they
// depend on, dependencies first (an insmod order). Names in want that are
// missing from mods are returned in missing; a missing dependency is an error.
func ModuleClosure(dir string, mods map[string]*Module, want []string) (order []*Module, missing []string, err error) {
	seen := map[string]bool{}
	var visit func(name string, stack []string) error
	visit = func(name string, stack []string) error {
		if seen[name] {
			return nil
		}
		m := mods[name]
		if m == nil {
			return fmt.Errorf("module %s (needed by %s) not found", name, strings.Join(stack, " -> "))
		}
		seen[name] = true
		if err := readDepends(dir, m); err != nil {
			return err
		}
		for _, d := range m.Depends {
			if err := visit(d, append(stack, name)); err != nil {
				return err
			}
		}
		order = append(order, m)
		return nil
	}
	for _, name := range want {
		if mods[name] == nil {
			missing = append(missing, name)
			continue
		}
		if err := visit(name, nil); err != nil {
			return nil, nil, err
		}
	}
	return order, missing, nil
}

// ModulesDep renders a modules.dep file for the given modules, each line
// "path: dep paths" as depmod writes it: every dependency listed before
// the ones it needs itself, since modprobe loads the list from its end.
// (In breadth-first order, bridge's "llc stp" had busybox modprobe load
// stp before llc, which stp needs: unknown symbols.)
func ModulesDep(mods []*Module) []byte {
	byName := map[string]*Module{}
	for _, m := range mods {
		byName[m.Name] = m
	}
	var b bytes.Buffer
	sorted := append([]*Module(nil), mods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, m := range sorted {
		// Depth first, each module after its dependencies: a load order.
		var load []string
		seen := map[string]bool{m.Name: true}
		var visit func(name string)
		visit = func(name string) {
			if seen[name] || byName[name] == nil {
				return
			}
			seen[name] = true
			for _, d := range byName[name].Depends {
				visit(d)
			}
			load = append(load, byName[name].Path)
		}
		for _, d := range m.Depends {
			visit(d)
		}
		fmt.Fprintf(&b, "%s:", m.Path)
		for i := len(load) - 1; i >= 0; i-- {
			fmt.Fprintf(&b, " %s", load[i])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
