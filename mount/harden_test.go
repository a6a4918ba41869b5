package mount

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Issue 11 routes on the mount side, each performing the attack.

// A bind whose target resolves into procfs through a symlink in the rootfs
// (/data -> /proc/sys/kernel) would let a volume decide what
// /proc/sys/kernel/cap_last_cap says: refused with a *TargetError naming
// the target. A fresh proc and an allow-listed file are still fine.
func TestSetupRefusesTargetIntoProc(t *testing.T) {
	requireSetup(t)
	root := busyboxRoot(t)
	symlink(t, "/proc/sys/kernel", filepath.Join(root, "data"))
	symlink(t, "/sys/kernel", filepath.Join(root, "sysdata"))
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "cap_last_cap"), []byte("5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Mount{Bind(vol, "/data", 0), Tmpfs("/data", 0, 0, 0), Bind(vol, "/sysdata", ReadOnly)} {
		r := Root{Path: root, Mounts: []Mount{Proc("/proc"), Sysfs("/sys"), m}}
		rep := runSetup(t, request{Root: r})
		if rep.TargetErr != m.Target {
			t.Errorf("%s on %s: %+v, want a *TargetError naming it", m.Type, m.Target, rep)
		}
	}
	ok := Root{Path: root, Mounts: []Mount{Proc("/proc"), Bind("/proc/uptime", "/proc/uptime", ReadOnly), Bind("/proc/sys", "/proc/sys", ReadOnly)}}
	if rep := runSetup(t, request{Root: ok}); rep.Err != "" {
		t.Errorf("allow-listed file and same-filesystem bind refused: %s", rep.Err)
	}
}

// Metadata changes to /dev nodes and to a masked file never reach the
// host's /dev/null; I/O still works.
func TestSetupDevNodesNotHostInodes(t *testing.T) {
	requireSetup(t)
	var before unix.Stat_t
	if err := unix.Stat("/dev/null", &before); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restoreDevNull(t, &before) })
	r := standardRoot(busyboxRoot(t))
	r.MaskedPaths = []string{"/proc/kcore", "/proc/keys"}
	script := `for f in /dev/null /dev/zero /proc/keys; do
  busybox chmod 1666 $f 2>/dev/null; echo "$f chmod $?"
  busybox chown 65534:65534 $f 2>/dev/null; echo "$f chown $?"
  busybox touch -d 2001-01-01 $f 2>/dev/null; echo "$f touch $?"
done
echo x > /dev/null && echo write ok; busybox head -c 3 /dev/zero | busybox wc -c`
	rep := runSetup(t, request{Root: r, Exec: []string{"/bin/busybox", "sh", "-c", script}})
	if rep.Err != "" {
		t.Fatal(rep.Err)
	}
	out := rep.Facts["exec"]
	t.Log(out)
	for _, op := range []string{"chmod", "chown", "touch"} {
		if !strings.Contains(out, "/proc/keys "+op+" 1") {
			t.Errorf("%s of a masked file succeeded", op)
		}
	}
	if !strings.Contains(out, "write ok") || !strings.Contains(out, "\n3") {
		t.Errorf("I/O on /dev nodes broken: %s", out)
	}
	checkDevNull(t, &before)
}

func checkDevNull(t *testing.T, before *unix.Stat_t) {
	t.Helper()
	var after unix.Stat_t
	if err := unix.Stat("/dev/null", &after); err != nil {
		t.Fatal(err)
	}
	if after.Mode != before.Mode || after.Uid != before.Uid || after.Gid != before.Gid || after.Mtim != before.Mtim {
		t.Errorf("host /dev/null changed: mode %#o uid %d gid %d mtime %v, was %#o %d %d %v",
			after.Mode, after.Uid, after.Gid, after.Mtim, before.Mode, before.Uid, before.Gid, before.Mtim)
	}
}

// restoreDevNull puts the host's /dev/null back should a test have
// changed it (on code without the fix).
func restoreDevNull(t *testing.T, st *unix.Stat_t) {
	var now unix.Stat_t
	if unix.Stat("/dev/null", &now) != nil || (now.Mode == st.Mode && now.Uid == st.Uid && now.Gid == st.Gid && now.Mtim == st.Mtim) {
		return
	}
	_ = unix.Chmod("/dev/null", st.Mode&0o7777)
	_ = unix.Chown("/dev/null", int(st.Uid), int(st.Gid))
	_ = unix.UtimesNano("/dev/null", []unix.Timespec{st.Atim, st.Mtim})
	t.Log("restored the host's /dev/null")
}

// With Path "" and DefaultRoot the host's root is read-only, /tmp and
// /run are private tmpfs, /dev is fresh; bind sources under the host's
// /tmp still work (they are cloned before the tmpfs hides them), and a
// writable volume stays writable on the read-only root.
func TestSetupHostRootDefault(t *testing.T) {
	requireSetup(t)
	vol, err := os.MkdirTemp("/tmp", "confine-vol-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(vol)
	hostFile := filepath.Join(vol, "..", filepath.Base(vol)+"-hostfile")
	if err := os.WriteFile(hostFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(hostFile)
	r := DefaultRoot("", false)
	r.Mounts = append(r.Mounts, Bind(vol, "/mnt", 0))
	rep := runSetup(t, request{Root: r, Canary: hostFile,
		Writes: []string{"/etc/confine-probe", "/mnt/written", "/run/x", "/var/tmp/x"},
		Statfs: []string{"/dev", "/tmp", "/run"}})
	if rep.Err != "" {
		t.Fatal(rep.Err)
	}
	want := map[string]string{
		"write /etc/confine-probe": "EROFS", "write /probe": "EROFS",
		"write /mnt/written": "ok", "write /tmp/probe": "ok", "write /run/x": "ok", "write /var/tmp/x": "ok",
		"stat canary": "ENOENT", "/dev/null": "char 1:3",
		"statfs /dev": "ok 0x1021994", "statfs /tmp": "ok 0x1021994", "statfs /run": "ok 0x1021994",
	}
	for k, v := range want {
		if rep.Facts[k] != v {
			t.Errorf("%s = %q, want %q", k, rep.Facts[k], v)
		}
	}
	if _, err := os.Stat(filepath.Join(vol, "written")); err != nil {
		t.Errorf("the volume write did not reach the volume: %v", err)
	}
	for _, p := range []string{"/etc/confine-probe", "/probe"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s created on the host", p)
		}
	}
}
