package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config describes one run of a test binary in the VM. The zero value of
// each field means its default.
type Config struct {
	Binary string   // the test binary on the host (required)
	Args   []string // its arguments, passed through except host-only flags
	PkgDir string   // the package directory; its testdata/ is copied (default: cwd)
	// Files are host files or directories copied into the VM at the same
	// absolute paths, for what a test needs and the VM cannot make (no
	// network, no Go toolchain): default $CONFINE_VM_FILES, a list
	// separated by colons.
	Files []string
	// Programs are dynamically linked host programs carried into the VM
	// with their interpreter and shared libraries (DynamicFiles), at the
	// same paths: default $CONFINE_VM_PROGRAMS, separated by colons. The
	// VM has busybox alone; this brings, say, runc and crun for a
	// comparison that the host's hybrid cgroups do not allow.
	Programs []string

	Cache   string        // default CacheDir()
	Mem     string        // qemu -m; default $CONFINE_VM_MEM or "2048"
	SMP     int           // qemu -smp; default $CONFINE_VM_SMP or 2
	Timeout time.Duration // watchdog; default Watchdog(Args), or $CONFINE_VM_TIMEOUT
	Append  string        // extra kernel command line; default $CONFINE_VM_APPEND

	Stdout io.Writer // the test's output, streamed live; default os.Stdout
	Stderr io.Writer // runner messages; default os.Stderr

	// Console, when set, receives the whole kernel console (ttyS0) after
	// the VM stops; vmexec sets it when CONFINE_VM_CONSOLE=1.
	Console io.Writer
}

// TimeoutError reports that the watchdog killed the VM.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("vmtest: watchdog: the VM was still running after %s (the test's -timeout plus a %s boot margin, "+
		"or CONFINE_VM_TIMEOUT); killed qemu. A test hung with its timeout disabled, or the kernel hung", e.After, BootMargin)
}

// NoMarkerError reports a VM that stopped without printing the exit marker:
// a kernel panic, a crashed /init, or qemu failing. Console holds the
// kernel console from the panic message on, or its last lines.
type NoMarkerError struct {
	QemuErr error
	Console string
}

func (e *NoMarkerError) Error() string {
	msg := "vmtest: the VM stopped without reporting the test's exit status (kernel panic or /init failure?)"
	if e.QemuErr != nil {
		msg += "; qemu: " + e.QemuErr.Error()
	}
	if e.Console != "" {
		msg += "\n--- last lines of the VM console ---\n" + e.Console
	}
	return msg
}

// Run boots the VM, runs the test binary in it, streams its output to
// cfg.Stdout, and returns the binary's exit status. An error means the
// status is unknown: missing tools, a timeout, a panic; never treat it as a pass.
func Run(ctx context.Context, cfg Config) (int, error) {
	if err := cfg.defaults(); err != nil {
		return -1, err
	}
	if err := checkStatic(cfg.Binary); err != nil {
		return -1, err
	}
	qemu, err := findTool("qemu-system-x86_64")
	if err != nil {
		return -1, err
	}
	k, err := FindKernel(cfg.Cache)
	if err != nil {
		return -1, err
	}
	base, err := BaseImage(cfg.Cache, k)
	if err != nil {
		return -1, err
	}
	dir, err := os.MkdirTemp("", "vmtest-")
	if err != nil {
		return -1, err
	}
	defer os.RemoveAll(dir)

	nonce := newNonce()
	args, dropped := VMArgs(cfg.Args)
	if len(dropped) > 0 {
		fmt.Fprintf(cfg.Stderr, "vmtest: not passed into the VM (host paths): %s\n", strings.Join(dropped, " "))
	}
	script := RunScript(filepath.Base(cfg.Binary), args, VMEnv(hostEnv()), nonce)
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := writeFile(initrd, func(w io.Writer) error {
		return WriteRunImage(w, base, cfg.Binary, cfg.PkgDir, script, cfg.Files...)
	}); err != nil {
		return -1, fmt.Errorf("vmtest: writing initramfs: %w", err)
	}
	console := filepath.Join(dir, "console.log")
	return boot(ctx, cfg, qemu, qemuArgs(cfg, k.Image, initrd, console), console, nonce)
}

func (cfg *Config) defaults() error {
	if cfg.Binary == "" {
		return errors.New("vmtest: Config.Binary: empty: want the test binary's path")
	}
	if cfg.Cache == "" {
		cfg.Cache = CacheDir()
	}
	if cfg.PkgDir == "" {
		cfg.PkgDir, _ = os.Getwd()
	}
	if cfg.Files == nil {
		cfg.Files = filepath.SplitList(os.Getenv("CONFINE_VM_FILES"))
	}
	if cfg.Programs == nil {
		cfg.Programs = filepath.SplitList(os.Getenv("CONFINE_VM_PROGRAMS"))
	}
	if len(cfg.Programs) > 0 {
		files, err := DynamicFiles(cfg.Programs...)
		if err != nil {
			return fmt.Errorf("vmtest: Config.Programs (CONFINE_VM_PROGRAMS): %w", err)
		}
		cfg.Files = slices.Concat(cfg.Files, files)
	}
	for _, f := range cfg.Files {
		if !filepath.IsAbs(f) || filepath.Clean(f) == "/" || strings.HasPrefix(filepath.Clean(f)+"/", "/test/") {
			return fmt.Errorf("vmtest: Config.Files (CONFINE_VM_FILES): %q: want an absolute path other than / and /test", f)
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("vmtest: Config.Files (CONFINE_VM_FILES): %w", err)
		}
	}
	if cfg.Mem == "" {
		cfg.Mem = envOr("CONFINE_VM_MEM", "2048")
	}
	if !validMem(cfg.Mem) {
		return fmt.Errorf("vmtest: Config.Mem (CONFINE_VM_MEM): %q: want MiB like 2048, or 1G", cfg.Mem)
	}
	if cfg.SMP == 0 {
		n, err := strconv.Atoi(envOr("CONFINE_VM_SMP", "2"))
		if err != nil || n < 1 || n > 64 {
			return fmt.Errorf("vmtest: CONFINE_VM_SMP: %q: want 1..64", os.Getenv("CONFINE_VM_SMP"))
		}
		cfg.SMP = n
	}
	if cfg.Timeout == 0 {
		if v := os.Getenv("CONFINE_VM_TIMEOUT"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("vmtest: CONFINE_VM_TIMEOUT: %q: want a duration > 0", v)
			}
			cfg.Timeout = d
		} else {
			d, err := Watchdog(cfg.Args)
			if err != nil {
				return err
			}
			cfg.Timeout = d
		}
	}
	if cfg.Append == "" {
		cfg.Append = os.Getenv("CONFINE_VM_APPEND")
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	return nil
}

// checkStatic rejects binaries the VM cannot run: it has no dynamic loader
// or shared libraries (busybox is static, so are Go binaries without cgo).
func checkStatic(binary string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("vmtest: test binary %s: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("vmtest: test binary %s is dynamically linked and cannot run in the VM: "+
				"build it with CGO_ENABLED=0 (make test-vm does)", binary)
		}
	}
	return nil
}

// validMem accepts what qemu -m takes: a number with an optional M or G.
func validMem(s string) bool {
	if strings.HasSuffix(s, "M") || strings.HasSuffix(s, "G") {
		s = s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newNonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeFile(name string, fill func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fill(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// KernelCmdline is the kernel command line. The console (ttyS0) goes to a
// log file; the test writes to ttyS1, so kernel messages never mix with
// its output. panic=-1 reboots on panic, which -no-reboot turns into exit.
// tsc=reliable keeps the TSC as clocksource (the kernel otherwise finds the
// emulated vCPUs' TSCs unsynchronised and falls back to the slow HPET);
// mitigations=off and cryptomgr.notests shorten the emulated boot.
const KernelCmdline = "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init mitigations=off tsc=reliable cryptomgr.notests"

func qemuArgs(cfg Config, kernel, initrd, console string) []string {
	return append([]string{
		"-accel", "tcg", "-cpu", "max",
		"-m", cfg.Mem, "-smp", strconv.Itoa(cfg.SMP),
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
		"-no-reboot", "-nic", "none",
		// The guest's RTC follows the host clock, so wall time is right.
		"-rtc", "base=utc,clock=host",
		"-serial", "file:" + console,
		"-serial", "stdio",
		"-kernel", kernel, "-initrd", initrd,
		"-append", strings.TrimSpace(KernelCmdline + " " + cfg.Append),
	}, strings.Fields(os.Getenv("CONFINE_VM_QEMU_ARGS"))...)
}

// boot runs qemu, streams ttyS1 and returns the status from the marker.
func boot(ctx context.Context, cfg Config, qemu string, args []string, console, nonce string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdin = nil
	cmd.Stderr = cfg.Stderr
	// qemu must not outlive the runner, even when go test kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return -1, err
	}
	if err := cmd.Start(); err != nil {
		return -1, &MissingError{What: "a working " + qemu, Err: err}
	}
	status, found := stream(out, cfg.Stdout, nonce)
	werr := cmd.Wait()
	if cfg.Console != nil {
		if b, err := os.ReadFile(console); err == nil {
			cfg.Console.Write(bytes.ReplaceAll(b, []byte("\r"), nil))
		}
	}
	if ctx.Err() == context.DeadlineExceeded && !found {
		return -1, &TimeoutError{After: cfg.Timeout}
	}
	if ctx.Err() != nil && !found {
		return -1, fmt.Errorf("vmtest: run stopped (%v); killed qemu", context.Cause(ctx))
	}
	if !found {
		return -1, &NoMarkerError{QemuErr: werr, Console: consoleExcerpt(console, 40)}
	}
	return status, nil
}

// stream copies test output line by line, dropping the exit marker and the
// carriage returns the tty adds, and returns the marker's status.
func stream(r io.Reader, w io.Writer, nonce string) (status int, found bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			text := strings.TrimRight(line, "\r\n")
			before, st, ok := ParseMarker(text, nonce)
			if ok {
				status, found = st, true
				if strings.TrimSpace(before) != "" {
					fmt.Fprintln(w, before)
				}
			} else if !found {
				io.WriteString(w, strings.ReplaceAll(line, "\r\n", "\n"))
			}
		}
		if err != nil {
			return status, found
		}
	}
}

// consoleExcerpt returns what explains a dead VM: from the first
// "Kernel panic" line on, or else the last lines, n lines at most.
func consoleExcerpt(name string, n int) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	start := len(lines) - n
	for i, l := range lines {
		if strings.Contains(l, "Kernel panic") {
			start = i
			break
		}
	}
	start = max(start, 0)
	lines = lines[start:]
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
