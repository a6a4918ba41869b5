package netns

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// nlLink builds one netlink message of type typ carrying an ifinfomsg.
func nlLink(typ uint16, index int32, flags uint32) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	d := b[unix.SizeofNlMsghdr:]
	binary.NativeEndian.PutUint32(d[4:], uint32(index))
	binary.NativeEndian.PutUint32(d[8:], flags)
	return b
}

func TestHasRunning(t *testing.T) {
	up := uint32(unix.IFF_UP)
	running := up | unix.IFF_RUNNING
	for _, tc := range []struct {
		name string
		msg  []byte
		want bool
	}{
		{"running", nlLink(unix.RTM_NEWLINK, 7, running), true},
		{"up only", nlLink(unix.RTM_NEWLINK, 7, up), false},
		{"other link", nlLink(unix.RTM_NEWLINK, 8, running), false},
		{"dellink", nlLink(unix.RTM_DELLINK, 7, running), false},
		{"second of two", append(nlLink(unix.RTM_NEWLINK, 8, running), nlLink(unix.RTM_NEWLINK, 7, running)...), true},
		{"truncated", nlLink(unix.RTM_NEWLINK, 7, running)[:20], false},
		{"empty", nil, false},
	} {
		if got := hasRunning(tc.msg, 7); got != tc.want {
			t.Errorf("%s: hasRunning = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzHasRunning(f *testing.F) {
	f.Add(nlLink(unix.RTM_NEWLINK, 7, unix.IFF_UP|unix.IFF_RUNNING), 7)
	f.Add(nlLink(unix.RTM_NEWLINK, 7, unix.IFF_UP), 7)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 16, 0}, 1)
	f.Fuzz(func(t *testing.T, b []byte, index int) {
		// Must not panic on any input; a hit must be a real message.
		if hasRunning(b, index) && len(b) < unix.SizeofNlMsghdr+unix.SizeofIfInfomsg {
			t.Fatalf("hit in %d bytes", len(b))
		}
	})
}
