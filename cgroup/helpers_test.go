package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func filepathBase(p string) string { return filepath.Base(p) }

func trim(s string) string { return strings.TrimSpace(s) }

func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func writeFileT(t *testing.T, dir, name, v string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sysProcIn(cg *Cgroup) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
}
