package internal

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyscallProbe(t *testing.T) {
	calls := 0
	missing := SyscallProbe("frob(2)", "9.1", false, func() error { calls++; return unix.ENOSYS })
	for range 2 {
		err := missing()
		var ue *UnsupportedError
		if !errors.Is(err, ErrNotSupported) || !errors.As(err, &ue) || ue.MinKernel != "9.1" || !errors.Is(err, unix.ENOSYS) {
			t.Fatalf("ENOSYS probe = %v, want an *UnsupportedError for 9.1 keeping the errno", err)
		}
	}
	if calls != 1 {
		t.Errorf("probe ran %d times, want once", calls)
	}
	if err := SyscallProbe("f", "1.0", false, func() error { return unix.EPERM })(); err != nil {
		t.Errorf("EPERM means the call exists: %v", err)
	}
	if err := SyscallProbe("f", "1.0", true, func() error { return unix.EINVAL })(); !errors.Is(err, ErrNotSupported) {
		t.Errorf("EINVAL with einvalMeansMissing: %v", err)
	}
	if err := SyscallProbe("f", "1.0", false, func() error { return unix.EINVAL })(); err != nil {
		t.Errorf("EINVAL without einvalMeansMissing: %v", err)
	}
}

func TestVersionProbe(t *testing.T) {
	if err := VersionProbe("old", "2.6")(); err != nil {
		t.Errorf("2.6 feature: %v", err)
	}
	err := VersionProbe("future", "99.0")()
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.MinKernel != "99.0" {
		t.Errorf("99.0 feature: %v", err)
	}
}
