package ocisuite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Suite is a built suite: a directory holding the programs' binary, the
// list of program names and the rootfs tarball.
type Suite struct {
	Dir      string   // where Build put it (see DefaultDir)
	Programs []string // the validation programs, sorted (runtimetest excluded)
}

// Open returns the suite Build made in dir.
func Open(dir string) (*Suite, error) {
	b, err := os.ReadFile(filepath.Join(dir, programsName))
	if err != nil {
		return nil, fmt.Errorf("ocisuite: no suite in %s (build it with Build or `make oci-suite`): %w", dir, err)
	}
	s := &Suite{Dir: dir, Programs: strings.Fields(string(b))}
	for _, f := range []string{binaryName, rootfsName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("ocisuite: incomplete suite in %s: %w", dir, err)
		}
	}
	return s, nil
}

// Result is one program's run.
type Result struct {
	Program string // the validation program's name, e.g. "default"
	// Exit is the program's exit status, -1 when it was killed (see Err).
	Exit    int
	TAP     Summary // what its standard output says
	Stdout  []byte  // the TAP stream
	Stderr  []byte
	Elapsed time.Duration
	// Strays are processes the program left in its process group (the
	// namespace programs start `unshare ... sleep 10000` helpers); Run
	// kills them and reports them here.
	Strays []string
	// Err is set when the program could not be run or was killed.
	Err error
}

// Problem returns why the program did not pass, or "" (see
// Summary.Problem; with silent, Summary.SilentProblem).
func (r *Result) Problem(silent bool) string {
	switch {
	case r.Err != nil:
		return r.Err.Error()
	case silent:
		return r.TAP.SilentProblem(r.Exit)
	}
	return r.TAP.Problem(r.Exit)
}

// Run runs one program as the v0.9.0 README says: from a directory holding
// the rootfs tarball and runtimetest, with RUNTIME naming the runtime
// binary. dir must be an empty directory the caller removes; the
// programs' bundles go below it (TMPDIR=dir/tmp). env is added to the
// caller's environment. The program runs in a process group of its own,
// killed when ctx ends.
func (s *Suite) Run(ctx context.Context, program, runtime, dir string, env []string) Result {
	r := Result{Program: program, Exit: -1}
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		r.Err = err
		return r
	}
	for src, dst := range map[string]string{binaryName: "runtimetest", rootfsName: rootfsName} {
		if err := linkOrCopy(filepath.Join(s.Dir, src), filepath.Join(dir, dst)); err != nil {
			r.Err = err
			return r
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(s.Dir, binaryName))
	cmd.Args = []string{program} // the dispatcher's choice
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "RUNTIME="+runtime, "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Err = err
		return r
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-pgid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	r.Elapsed = time.Since(start)
	r.Strays = killGroup(pgid)
	r.Stdout, r.Stderr = stdout.Bytes(), stderr.Bytes()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.Err = fmt.Errorf("killed after %s: %w", r.Elapsed.Round(time.Millisecond), ctx.Err())
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	case err != nil:
		r.Err = err
	default:
		r.Exit = 0
	}
	r.TAP, _ = ParseTAP(bytes.NewReader(r.Stdout)) // a bytes.Reader cannot fail
	return r
}

// linkOrCopy hard-links src to dst, or copies it across file systems.
// Never a symlink: the programs copy runtimetest with Lstat semantics.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// killGroup kills what is left of process group pgid and describes it.
func killGroup(pgid int) []string {
	var strays []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, comm := procGroup(pid); g == pgid {
			strays = append(strays, fmt.Sprintf("%d %s", pid, comm))
		}
	}
	if len(strays) > 0 {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return strays
}

// procGroup reads the process group and command of pid from
// /proc/PID/stat ("pid (comm) state ppid pgrp ...").
func procGroup(pid int) (int, string) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	lp, rp := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if lp < 0 || rp < lp {
		return 0, ""
	}
	fields := strings.Fields(line[rp+1:])
	if len(fields) < 3 {
		return 0, ""
	}
	g, _ := strconv.Atoi(fields[2])
	return g, line[lp+1 : rp]
}
