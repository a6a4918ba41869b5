package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	rows, err := parse(strings.NewReader("# comment\n\n0\tcommon\tread\t\t\tsys_read\n134\t64\tuselib\n512\tx32\trt_sigaction\tcompat_sys_rt_sigaction\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{0, "common", "read"}, {134, "64", "uselib"}, {512, "x32", "rt_sigaction"}}
	if len(rows) != len(want) {
		t.Fatalf("rows %v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %v, want %v", i, rows[i], want[i])
		}
	}
	for _, bad := range []string{"12 common\n", "x common read\n", "-1 i386 exit\n"} {
		if _, err := parse(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
