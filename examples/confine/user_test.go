package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/confinelab/confine/internal/testutil"
)

func TestUserEnvWorkdir(t *testing.T) {
	r := confine(t, "run", "-u", "1000:1001", "-e", "GREETING=hi there", "-w", "/tmp", "sh", "-c",
		`echo "$(id -u) $(id -g) $GREETING $(pwd)"`)
	if got := strings.TrimSpace(r.stdout); r.code != 0 || got != "1000 1001 hi there /tmp" {
		t.Fatalf("got %q (exit %d)", got, r.code)
	}
	r = confine(t, "run", "-u", "nobody", "id", "-un")
	if strings.TrimSpace(r.stdout) != "nobody" {
		t.Fatalf("-u nobody: %q", r.stdout)
	}
	// COMMAND is looked up in the sandbox's PATH, as docker does.
	r = confine(t, "run", "-e", "PATH=/nonexistent", "sh", "-c", "true")
	if r.code != exitNotFound {
		t.Fatalf("sh with PATH=/nonexistent: exit %d, want 127", r.code)
	}
}

func TestNetworkJoin(t *testing.T) {
	path := testutil.TempNetns(t)
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	r := confine(t, "run", "--network", "ns:"+path, "sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net")
	want := fmt.Sprintf("net:[%d]\nlo\n", st.Ino)
	if r.code != 0 || r.stdout != want {
		t.Fatalf("got %q, want %q", r.stdout, want)
	}
	r = confine(t, "run", "--network", "ns:/etc/passwd", "true")
	if r.code != exitConfine || !strings.HasPrefix(r.stderr, "confine: --network:") {
		t.Fatalf("a non-namespace file: exit %d %q", r.code, r.stderr)
	}
}
