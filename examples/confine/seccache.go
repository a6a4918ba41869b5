package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal"
	"github.com/confinelab/confine/seccomp"
)

// seccompCacheDir holds compiled seccomp filters between runs: compiling
// the default profile costs more than the rest of confine's own work
// before the start (about 5 ms of CPU on the test host), and its result
// only depends on what the key below names. /run is a tmpfs on systemd
// hosts, so the cache does not outlive a reboot (or a kernel change).
// Tests point it elsewhere.
var seccompCacheDir = "/run/confine/seccomp"

// seccompCacheMagic starts every cache file; a new layout gets a new one.
const seccompCacheMagic = "confine seccomp v1\n"

// seccompKey names a compiled filter: the binary that compiles it (the
// compiler and the built-in profile are in it: a rebuilt or replaced
// binary changes inode or times), the profile's bytes (nil for the
// built-in one), the target's capabilities, architecture and kernel (the
// profile's minKernel conditions). It returns the binary's part and the
// rest separately: the file is named exe-rest, and gc removes files of
// other binaries.
func seccompKey(profile []byte, caps uint64) (exe, rest string, err error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return "", "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d:%d:%d:%d.%d:%d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
	exe = hex.EncodeToString(h.Sum(nil)[:8])
	kv, err := internal.KernelVersion()
	if err != nil {
		return "", "", err
	}
	h.Reset()
	fmt.Fprintf(h, "%s %s %x %v %t\n", seccompCacheMagic, runtime.GOARCH, caps, kv, profile != nil)
	h.Write(profile)
	return exe, hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// cachedSeccomp returns the filter compiled from profile (the built-in
// one when profile is nil) for caps, from the cache when an earlier run
// stored it, else compiling it with compile and storing the result. The
// cache is an optimisation only: any problem with it (not root, no /run,
// a file of the wrong owner or mode, a corrupt entry) means compiling.
func cachedSeccomp(profile []byte, caps uint64, compile func() (*seccomp.Program, error)) (*seccomp.Program, error) {
	exe, rest, kerr := seccompKey(profile, caps)
	name := exe + "-" + rest
	if kerr == nil {
		if insns, err := readSeccompCache(seccompCacheDir, name); err == nil {
			return seccomp.NewProgram(insns), nil
		}
	}
	prog, err := compile()
	if err != nil || kerr != nil {
		return prog, err
	}
	if writeSeccompCache(seccompCacheDir, name, prog.Instructions()) == nil {
		// A miss happens once per binary: drop what older builds left.
		pruneSeccompCache(seccompCacheDir, exe)
	}
	return prog, nil
}

// encodeSeccomp lays out a cache file: magic, instruction count, the
// instructions (code, jt, jf, k, little endian) and a SHA-256 of all that.
func encodeSeccomp(insns []unix.SockFilter) []byte {
	b := make([]byte, 0, len(seccompCacheMagic)+4+8*len(insns)+sha256.Size)
	b = append(b, seccompCacheMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(insns)))
	for _, in := range insns {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// errSeccompCache is a cache file that is not one encodeSeccomp wrote.
var errSeccompCache = errors.New("not a seccomp cache file")

// decodeSeccomp checks and reads a cache file.
func decodeSeccomp(b []byte) ([]unix.SockFilter, error) {
	head := len(seccompCacheMagic) + 4
	if len(b) < head+sha256.Size || !bytes.HasPrefix(b, []byte(seccompCacheMagic)) {
		return nil, errSeccompCache
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, errSeccompCache
	}
	n := binary.LittleEndian.Uint32(b[len(seccompCacheMagic):])
	if n == 0 || n > 4096 || uint64(len(body)-head) != 8*uint64(n) {
		return nil, errSeccompCache
	}
	insns := make([]unix.SockFilter, n)
	for i := range insns {
		p := body[head+8*i:]
		insns[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(p), Jt: p[2], Jf: p[3], K: binary.LittleEndian.Uint32(p[4:])}
	}
	return insns, nil
}

// maxSeccompCacheFile bounds what is read: 4096 instructions and framing.
const maxSeccompCacheFile = 1 << 16

// readSeccompCache reads the entry name of dir. The directory and the
// file must belong to this process's user and be writable by nobody else:
// whoever can write them chooses the filter of every later run.
func readSeccompCache(dir, name string) ([]unix.SockFilter, error) {
	dfd, err := openPrivate(unix.AT_FDCWD, dir, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := openPrivate(dfd, name, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	buf := make([]byte, maxSeccompCacheFile+1)
	n, err := f.Read(buf)
	if err != nil {
		return nil, err
	}
	if n > maxSeccompCacheFile {
		return nil, errSeccompCache
	}
	return decodeSeccomp(buf[:n])
}

// openPrivate opens name under dfd without following a final symlink and
// checks it is owned by this user and not writable by group or others.
func openPrivate(dfd int, name string, flags int) (int, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: owner %d, mode %o: not private", name, st.Uid, st.Mode&0o7777)
	}
	return fd, nil
}

// writeSeccompCache stores the entry atomically (a private temporary file
// renamed into place), creating dir (0700) when missing.
func writeSeccompCache(dir, name string, insns []unix.SockFilter) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	dfd, err := openPrivate(unix.AT_FDCWD, dir, unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	unix.Close(dfd)
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(encodeSeccomp(insns))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
	}
	return werr
}

// pruneSeccompCache removes the entries compiled by other confine
// binaries than exe (and temporary files left by a killed run).
func pruneSeccompCache(dir, exe string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), exe+"-") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
