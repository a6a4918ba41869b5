package devfilter

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The calls below issue bpf(2) directly, for the path every sandbox start
// takes (find or load the program, attach it by link, pin). cilium/ebpf,
// which the rest of the package uses, probes kernel features in each new
// process before its first load, attach and info calls (a dozen extra
// syscalls and test loads), which cost a short-lived launcher more than the
// work itself. Attribute layouts are those of union bpf_attr in
// include/uapi/linux/bpf.h; a shorter size than the kernel's is allowed
// (the kernel zero-fills the rest).

// ptr (ptr_*.go) is a pointer in a bpf_attr field (__aligned_u64). It is
// a real pointer for the garbage collector, so the memory it points to
// stays alive and is found again if a goroutine stack moves.
var _ [8 - unsafe.Sizeof(ptr{})]byte // exactly 8 bytes
var _ [unsafe.Sizeof(ptr{}) - 8]byte

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// progLoadAttr is the BPF_PROG_LOAD part of bpf_attr (up to
// expected_attach_type).
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              ptr
	license            ptr
	logLevel           uint32
	logSize            uint32
	logBuf             ptr
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// loadCode loads code (encoded instructions) as a cgroup device program and
// returns its fd. When the verifier refuses it, the error carries the
// verifier's log.
func loadCode(code []byte) (int, error) {
	license := []byte("Apache-2.0\x00")
	attr := progLoadAttr{
		progType:           unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:            uint32(len(code) / 8),
		insns:              ptr{p: unsafe.Pointer(&code[0])},
		license:            ptr{p: unsafe.Pointer(&license[0])},
		expectedAttachType: unix.BPF_CGROUP_DEVICE,
	}
	copy(attr.progName[:], "confine_dev")
	fd, err := progLoad(&attr)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EACCES) {
		log := make([]byte, 1<<16)
		attr.logLevel, attr.logSize = 1, uint32(len(log))
		attr.logBuf = ptr{p: unsafe.Pointer(&log[0])}
		if fd, err2 := progLoad(&attr); err2 == nil {
			return fd, nil // refused once, accepted now: take it
		}
		n := 0
		for n < len(log) && log[n] != 0 {
			n++
		}
		err = fmt.Errorf("%w: verifier log: %s", err, log[:n])
	}
	return -1, os.NewSyscallError("bpf(BPF_PROG_LOAD)", err)
}

// progLoad issues BPF_PROG_LOAD, again when the verifier gave up with
// EAGAIN because a signal arrived (the Go runtime preempts goroutines with
// SIGURG).
func progLoad(attr *progLoadAttr) (int, error) {
	for try := 0; ; try++ {
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
		if !errors.Is(err, unix.EAGAIN) || try == 20 {
			return fd, err
		}
	}
}

// objAttr is the BPF_OBJ_PIN / BPF_OBJ_GET part of bpf_attr.
type objAttr struct {
	pathname  ptr
	bpfFD     uint32
	fileFlags uint32
}

// objGet opens the object pinned at path.
func objGet(path string) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	attr := objAttr{pathname: ptr{p: unsafe.Pointer(p)}}
	fd, err := bpf(unix.BPF_OBJ_GET, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, &os.PathError{Op: "bpf(BPF_OBJ_GET)", Path: path, Err: err}
	}
	return fd, nil
}

// objPin pins the object fd at path.
func objPin(fd int, path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	attr := objAttr{pathname: ptr{p: unsafe.Pointer(p)}, bpfFD: uint32(fd)}
	_, err = bpf(unix.BPF_OBJ_PIN, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return &os.PathError{Op: "bpf(BPF_OBJ_PIN)", Path: path, Err: err}
	}
	return nil
}

// linkCreate attaches prog to the cgroup open as target by a new link.
func linkCreate(prog, target int) (int, error) {
	attr := struct{ progFD, targetFD, attachType, flags uint32 }{
		uint32(prog), uint32(target), unix.BPF_CGROUP_DEVICE, 0}
	fd, err := bpf(unix.BPF_LINK_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, os.NewSyscallError("bpf(BPF_LINK_CREATE)", err)
	}
	return fd, nil
}

// linkUpdate replaces the program of the link.
func linkUpdate(link, prog int) error {
	attr := struct{ linkFD, newProgFD, flags, oldProgFD uint32 }{uint32(link), uint32(prog), 0, 0}
	_, err := bpf(unix.BPF_LINK_UPDATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return os.NewSyscallError("bpf(BPF_LINK_UPDATE)", err)
}

// linkDetach detaches the link from its cgroup (Linux 5.9).
func linkDetach(link int) error {
	attr := struct{ linkFD uint32 }{uint32(link)}
	_, err := bpf(unix.BPF_LINK_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return os.NewSyscallError("bpf(BPF_LINK_DETACH)", err)
}

// queryIDs returns the ids of the device programs attached to the cgroup
// open as target (at most 64: the kernel's limit per attach point).
func queryIDs(target int) ([]uint32, error) {
	ids := make([]uint32, 64)
	attr := struct {
		targetFD, attachType, queryFlags, attachFlags uint32
		progIDs                                       ptr
		progCnt, _                                    uint32
	}{targetFD: uint32(target), attachType: unix.BPF_CGROUP_DEVICE,
		progIDs: ptr{p: unsafe.Pointer(&ids[0])}, progCnt: uint32(len(ids))}
	_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return nil, os.NewSyscallError("bpf(BPF_PROG_QUERY)", err)
	}
	return ids[:attr.progCnt], nil
}

// progInfo is the head of struct bpf_prog_info.
type progInfo struct {
	Type uint32
	ID   uint32
	Tag  [unix.BPF_TAG_SIZE]byte
}

// infoOf reads the program's type, id and tag.
func infoOf(prog int) (progInfo, error) {
	var info progInfo
	attr := struct {
		bpfFD, infoLen uint32
		info           ptr
	}{uint32(prog), uint32(unsafe.Sizeof(info)), ptr{p: unsafe.Pointer(&info)}}
	_, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return info, os.NewSyscallError("bpf(BPF_OBJ_GET_INFO_BY_FD)", err)
	}
	return info, nil
}
