package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestTablesAgreeWithXSys(t *testing.T) {
	for name, want := range map[string]uint32{
		"read": unix.SYS_READ, "execve": unix.SYS_EXECVE, "clone3": unix.SYS_CLONE3,
		"statmount": unix.SYS_STATMOUNT, "listmount": unix.SYS_LISTMOUNT, "mseal": unix.SYS_MSEAL,
		"setxattrat": unix.SYS_SETXATTRAT, "getxattrat": unix.SYS_GETXATTRAT,
		"listxattrat": unix.SYS_LISTXATTRAT, "removexattrat": unix.SYS_REMOVEXATTRAT,
		"open_tree_attr": unix.SYS_OPEN_TREE_ATTR, "file_getattr": unix.SYS_FILE_GETATTR,
		"file_setattr": unix.SYS_FILE_SETATTR, "uprobe": unix.SYS_UPROBE,
	} {
		if got, ok := Lookup(X86_64, name); !ok || got != want {
			t.Errorf("x86_64 %s = %d %v, want %d", name, got, ok, want)
		}
	}
}

func TestX32AndI386(t *testing.T) {
	for _, c := range []struct {
		a    Arch
		name string
		nr   uint32
		ok   bool
	}{
		{X32, "read", X32Bit, true},
		{X32, "execve", X32Bit | 520, true},
		{X32, "rt_sigaction", X32Bit | 512, true},
		{X32, "pwritev2", X32Bit | 547, true},
		{X32, "mseal", X32Bit | 462, true},
		{X32, "uselib", 0, false}, // a "64" row
		{I386, "socketcall", 102, true},
		{I386, "socket", 359, true},
		{I386, "arch_prctl", 384, true},
		{I386, "clock_gettime64", 403, true},
		{I386, "file_setattr", 469, true},
		{I386, "newfstatat", 0, false},
	} {
		nr, ok := Lookup(c.a, c.name)
		if ok != c.ok || nr != c.nr {
			t.Errorf("%v %s = %#x %v, want %#x %v", c.a, c.name, nr, ok, c.nr, c.ok)
		}
		if ok && Name(c.a, nr) != c.name {
			t.Errorf("%v Name(%#x) = %q", c.a, nr, Name(c.a, nr))
		}
	}
	if Newest(X32) != X32Bit|471 || Newest(X86_64) != 471 || Newest(I386) != 471 {
		t.Errorf("newest: %#x %d %d", Newest(X32), Newest(X86_64), Newest(I386))
	}
	if Name(X86_64, 400) != "" || Table(Arch(9)) != nil {
		t.Error("unknown number or arch resolved")
	}
}
