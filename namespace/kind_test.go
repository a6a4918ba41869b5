package namespace

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func TestKinds(t *testing.T) {
	s := Set{PID, NET, IPC, MNT, UTS}
	want := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWNS | unix.CLONE_NEWUTS)
	if s.CloneFlags() != want {
		t.Errorf("CloneFlags = %#x, want %#x", s.CloneFlags(), want)
	}
	if s.String() != "PID,NET,IPC,MNT,UTS" {
		t.Errorf("String = %q", s)
	}
	for _, k := range All() {
		p, err := ParseKind(k.ProcName())
		if err != nil || p != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.ProcName(), p, err)
		}
		if got, ok := kindFromNSType(k.CloneFlag()); !ok || got != k {
			t.Errorf("kindFromNSType(%s)", k)
		}
	}
	if err := (Set{NET, NET}).Validate(); err == nil {
		t.Error("duplicate kind accepted")
	}
	if err := (Set{Kind(42)}).Validate(); err == nil {
		t.Error("invalid kind accepted")
	}
	if _, err := ParseKind("bogus"); err == nil {
		t.Error("ParseKind(bogus) succeeded")
	}
}

func TestCapSetParseFormat(t *testing.T) {
	s, err := ParseCapSet("CAP_NET_ADMIN, net_raw chown")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "CAP_CHOWN,CAP_NET_ADMIN,CAP_NET_RAW" {
		t.Errorf("String = %q", got)
	}
	all, _ := ParseCapSet("all")
	if all != AllCaps || !all.Has(40) || all.Has(41) {
		t.Errorf("ALL = %#x", uint64(all))
	}
	if _, err := ParseCap("CAP_FLY"); err == nil {
		t.Error("unknown capability accepted")
	}
	if c, err := ParseCap("CAP_41"); err != nil || c != 41 || c.String() != "CAP_41" {
		t.Errorf("numeric cap: %v %v", c, err)
	}
	bad := &Capabilities{Permitted: NewCapSet(CapNetAdmin), Ambient: NewCapSet(CapSysAdmin)}
	if bad.validate() == nil {
		t.Error("ambient outside permitted accepted")
	}
}

func FuzzParseCapSet(f *testing.F) {
	for _, s := range []string{"", "ALL", "CAP_CHOWN,net_raw", "cap_63", "CAP_64", " , ,", "sys_admin bpf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCapSet(s)
		if err != nil {
			return
		}
		again, err := ParseCapSet(set.String())
		if err != nil || again != set {
			t.Fatalf("round trip %q -> %q -> %#x (%v)", s, set, uint64(again), err)
		}
	})
}

func FuzzLookupUser(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"), "nobody")
	f.Add([]byte("#c\nbad:line\nu:x:12:notanumber::\n"), "u")
	f.Add([]byte(""), "0")
	f.Fuzz(func(t *testing.T, passwd []byte, name string) {
		_, _, _ = lookupUser(passwd, name)
	})
}

func TestLookupUser(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65533::/:/bin/false\n")
	if u, g, err := lookupUser(passwd, "nobody"); err != nil || u != 65534 || g != 65533 {
		t.Errorf("nobody = %d %d %v", u, g, err)
	}
	if _, _, err := lookupUser(passwd, "ghost"); err != ErrUnknownUser {
		t.Errorf("ghost: %v", err)
	}
}

func TestParseOOMKills(t *testing.T) {
	if n := parseOOMKills([]byte("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n")); n != 2 {
		t.Errorf("oom_kill = %d", n)
	}
	if n := parseOOMKills([]byte("oom 1\n")); n != -1 {
		t.Errorf("missing oom_kill = %d", n)
	}
}

func FuzzReadStatus(f *testing.F) {
	f.Add([]byte("R"))
	f.Add([]byte("R" + `{"Step":"exec","Path":"/x","Errno":2,"Msg":"no"}` + "\n"))
	f.Add([]byte("RSroot\nX\n" + `{"Unknown":true}` + "\n"))
	f.Add([]byte("RSchdir\n" + `{"File":{"Path":"/etc/passwd","Reason":"no"}}`))
	f.Add([]byte("Rgarbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := readStatus(bytesReader(b))
		if err == nil {
			_ = rep.err(nil)
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
