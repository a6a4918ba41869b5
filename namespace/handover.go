package namespace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Stdio handed over at Start: a prestarted init was forked with /dev/null
// (through a read-only mount: see openNull) for every stdio field still
// nil at Prestart. When Start finds one of
// them set, it sends the file with the config, over the config socket
// (SCM_RIGHTS on the same sendmsg), and the init installs it as fd 0, 1
// or 2 once its setup is done, right before exec. A Pool relies on it: an
// init forked ahead of need cannot know whose output it will carry.

// handover is what Start sends beside the config and what it keeps for
// the copying goroutines, as exec.Cmd does for non-file stdio.
type handover struct {
	mask      int        // bit i: stdio fd i is sent
	files     []*os.File // sent, in the order of the bits
	childEnds []*os.File // pipe ends among files: closed once sent
	ourEnds   []*os.File // pipe ends the copiers use: closed on failure
	copiers   []func() error
	errc      chan error
	devices   deviceGuard // closed once the files are made
}

// prepareHandover makes the files for the stdio fields that were nil at
// Prestart and are set now. It starts nothing: see start.
func (c *Cmd) prepareHandover(p *prestarted) (*handover, error) {
	h := &handover{}
	defer h.devices.close()
	if c.Stdin != nil && !p.stdio[0] {
		f, err := h.reader(c.Stdin)
		if err != nil {
			return nil, err
		}
		h.add(0, f)
	}
	var outFile *os.File
	if c.Stdout != nil && !p.stdio[1] {
		f, err := h.writer(c.Stdout, "stdout")
		if err != nil {
			h.closeAll()
			return nil, err
		}
		outFile = f
		h.add(1, f)
	}
	if c.Stderr != nil && !p.stdio[2] {
		f := outFile
		if f == nil || !interfaceEqual(c.Stderr, c.Stdout) {
			// One pipe for both when they are the same writer, so that a
			// writer not safe for concurrent use gets one copier.
			var err error
			if f, err = h.writer(c.Stderr, "stderr"); err != nil {
				h.closeAll()
				return nil, err
			}
		}
		h.add(2, f)
	}
	return h, nil
}

func (h *handover) add(fd int, f *os.File) {
	h.mask |= 1 << fd
	h.files = append(h.files, f)
}

// guard is deviceGuard.guard for a file sent: one opened anew is closed
// once sent.
func (h *handover) guard(f *os.File) (*os.File, error) {
	g, opened, err := h.devices.guard(f)
	if opened {
		h.childEnds = append(h.childEnds, g)
	}
	return g, err
}

func (h *handover) reader(r io.Reader) (*os.File, error) {
	if f, ok := r.(*os.File); ok {
		return h.guard(f)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("namespace: creating stdin pipe: %w", err)
	}
	h.childEnds = append(h.childEnds, pr)
	h.ourEnds = append(h.ourEnds, pw)
	h.copiers = append(h.copiers, func() error {
		_, err := io.Copy(pw, r)
		pw.Close()
		if errors.Is(err, syscall.EPIPE) {
			err = nil // the command closed its stdin, or exited
		}
		return err
	})
	return pr, nil
}

func (h *handover) writer(w io.Writer, name string) (*os.File, error) {
	if f, ok := w.(*os.File); ok {
		return h.guard(f)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("namespace: creating %s pipe: %w", name, err)
	}
	h.childEnds = append(h.childEnds, pw)
	h.ourEnds = append(h.ourEnds, pr)
	h.copiers = append(h.copiers, func() error {
		_, err := io.Copy(w, pr)
		pr.Close()
		return err
	})
	return pw, nil
}

// send writes payload to the config socket w with h's files attached, and
// closes the pipe ends that now belong to the init. A short write is
// completed without them: the files travel with the first bytes.
func (h *handover) send(w *os.File, payload []byte) error {
	defer h.closeChildEnds()
	if h == nil || len(h.files) == 0 {
		_, err := w.Write(payload)
		return err
	}
	fds := make([]int, len(h.files))
	for i, f := range h.files {
		fds[i] = int(f.Fd()) // blocking mode, as exec.Cmd leaves a file it passes
	}
	n, err := unix.SendmsgN(int(w.Fd()), payload, unix.UnixRights(fds...), nil, 0)
	runtime.KeepAlive(h.files)
	if err != nil {
		return err
	}
	_, err = w.Write(payload[n:])
	return err
}

func (h *handover) closeChildEnds() {
	if h == nil {
		return
	}
	for _, f := range h.childEnds {
		f.Close()
	}
	h.childEnds = nil
}

// closeAll releases every pipe after a failed Start.
func (h *handover) closeAll() {
	if h == nil {
		return
	}
	h.closeChildEnds()
	for _, f := range h.ourEnds {
		f.Close()
	}
	h.ourEnds, h.copiers = nil, nil
}

// start runs the copiers once the command runs.
func (h *handover) start() {
	h.errc = make(chan error, len(h.copiers))
	for _, fn := range h.copiers {
		go func() { h.errc <- fn() }()
	}
}

// wait waits for the copiers (after the command exited) and returns the
// first error.
func (h *handover) wait() error {
	if h.errc == nil {
		return nil // Start failed: nothing was started
	}
	var first error
	for range h.copiers {
		if err := <-h.errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// interfaceEqual is a == b without the panic an uncomparable dynamic type
// would raise.
func interfaceEqual(a, b any) (eq bool) {
	defer func() { _ = recover() }()
	return a == b
}

// configReader reads the init's config from its socket, with the files
// handed over (received close-on-exec). The config is what comes until
// EOF, unless it starts with presetupMagic: then a first config, framed
// with its length, comes ahead (see Cmd.presetup).
type configReader struct {
	fd    int
	buf   []byte
	fds   []int
	eof   bool
	chunk []byte
	oob   []byte
}

// presetupMagic and a 4-byte little-endian length frame the first config.
const presetupMagic = "PRE1"

func newConfigReader(fd int) *configReader {
	return &configReader{fd: fd, chunk: make([]byte, 16<<10), oob: make([]byte, unix.CmsgSpace(3*4))}
}

// next returns the next config, and whether it was the framed first one.
func (r *configReader) next() ([]byte, bool, error) {
	if err := r.need(8); err != nil {
		return nil, false, err
	}
	if len(r.buf) >= 8 && string(r.buf[:4]) == presetupMagic {
		n := int(binary.LittleEndian.Uint32(r.buf[4:8]))
		if n > maxConfig {
			return nil, false, fmt.Errorf("%w: longer than %d bytes", errConfigWire, maxConfig)
		}
		if err := r.need(8 + n); err != nil {
			return nil, false, err
		}
		if len(r.buf) < 8+n {
			return nil, false, fmt.Errorf("%w: first config cut short", errConfigWire)
		}
		p := r.buf[8 : 8+n]
		r.buf = r.buf[8+n:]
		return p, true, nil
	}
	for !r.eof {
		if err := r.fill(); err != nil {
			return nil, false, err
		}
	}
	return r.buf, false, nil
}

// need reads until n bytes are buffered or EOF.
func (r *configReader) need(n int) error {
	for len(r.buf) < n && !r.eof {
		if err := r.fill(); err != nil {
			return err
		}
	}
	return nil
}

// fill reads once.
func (r *configReader) fill() error {
	n, oobn, flags, _, err := unix.Recvmsg(r.fd, r.chunk, r.oob, unix.MSG_CMSG_CLOEXEC)
	if err == unix.EINTR {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("recvmsg", err)
	}
	if oobn > 0 {
		got, err := parseRights(r.oob[:oobn])
		r.fds = append(r.fds, got...)
		if err != nil {
			return err
		}
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return fmt.Errorf("%w: more than 3 files handed over", errConfigWire)
	}
	if n == 0 {
		r.eof = true
		return nil
	}
	if r.buf = append(r.buf, r.chunk[:n]...); len(r.buf) > maxConfig+8 {
		return fmt.Errorf("%w: longer than %d bytes", errConfigWire, maxConfig)
	}
	return nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parsing control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("parsing SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// checkStdio checks that fds are the files mask (initConfig.Stdio) says.
func checkStdio(mask int, fds []int) error {
	if mask < 0 || mask > 7 || bits.OnesCount(uint(mask)) != len(fds) {
		return fmt.Errorf("%w: %d files handed over for stdio mask %#x", errConfigWire, len(fds), mask)
	}
	return nil
}

// installStdio makes the handed-over fds (checked by checkStdio) the
// command's stdio and closes the received copies. The fds it replaces
// were the init's own /dev/null.
func installStdio(mask int, fds []int) error {
	defer closeFDs(fds)
	k := 0
	for i := 0; i < 3; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if err := unix.Dup3(fds[k], i, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
		k++
	}
	return nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
