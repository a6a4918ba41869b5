package netns

import (
	"encoding/binary"
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// runningTimeout bounds how long CreateVeth waits for carrier. Linkwatch
// handles veth carrier changes as urgent events, so this is generous.
const runningTimeout = 10 * time.Second

// linkWatch is an rtnetlink socket subscribed to link changes in one
// namespace. A link that was just set up keeps the noop qdisc, which
// drops every packet, until the kernel's linkwatch work activates it and
// sets IFF_RUNNING; waiting for that makes a veth usable the moment
// CreateVeth returns instead of losing the first packets.
type linkWatch struct{ fd int }

// openLinkWatch subscribes before the links are set up, so no change is
// missed between the check and the wait.
func openLinkWatch(h *Handle) (*linkWatch, error) {
	w := &linkWatch{fd: -1}
	err := inNetns(h, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return os.NewSyscallError("socket(AF_NETLINK)", err)
		}
		w.fd = fd
		return os.NewSyscallError("bind(RTMGRP_LINK)",
			unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}))
	})
	if err != nil {
		w.Close()
		return nil, opErr("watching links in", h.String(), err)
	}
	return w, nil
}

func (w *linkWatch) Close() {
	if w != nil && w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// waitRunning returns once link is running: at once if a fresh read says
// so (made after subscribing, so no change is missed), else when an
// RTM_NEWLINK for it carries IFF_RUNNING. When events were lost (ENOBUFS)
// it reads the state again.
func (w *linkWatch) waitRunning(nh *netlink.Handle, link netlink.Link, deadline time.Time) error {
	index := link.Attrs().Index
	running := func() (bool, error) {
		l, err := nh.LinkByIndex(index)
		if err != nil {
			return false, err
		}
		return l.Attrs().RawFlags&unix.IFF_RUNNING != 0, nil
	}
	ok, err := running()
	// One RTM_NEWLINK is ~1.5 KiB; a longer one is detected (MSG_TRUNC)
	// and answered by reading the state again.
	buf := make([]byte, 8192)
	for err == nil && !ok {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return unix.ETIMEDOUT
		}
		n, perr := unix.Poll([]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}, ms)
		if perr != nil && !errors.Is(perr, unix.EINTR) {
			return os.NewSyscallError("poll", perr)
		}
		if n <= 0 {
			continue
		}
		n, _, rerr := unix.Recvfrom(w.fd, buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		switch {
		case errors.Is(rerr, unix.ENOBUFS), rerr == nil && n > len(buf):
			ok, err = running()
		case errors.Is(rerr, unix.EAGAIN), errors.Is(rerr, unix.EINTR):
		case rerr != nil:
			return os.NewSyscallError("recvfrom", rerr)
		default:
			ok = hasRunning(buf[:n], index)
		}
	}
	return err
}

// hasRunning reports whether the netlink messages in b include an
// RTM_NEWLINK for ifindex with IFF_RUNNING set.
func hasRunning(b []byte, ifindex int) bool {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		// struct ifinfomsg: family, pad, type u16, index s32, flags u32.
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		index := int32(binary.NativeEndian.Uint32(m.Data[4:8]))
		flags := binary.NativeEndian.Uint32(m.Data[8:12])
		if int(index) == ifindex && flags&unix.IFF_RUNNING != 0 {
			return true
		}
	}
	return false
}
