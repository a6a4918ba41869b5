package cgroup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func init() {
	testutil.RegisterHelper("ddwrite", helperDirectWrite)
}

// helperDirectWrite: DEV MiB. Writes MiB mebibytes to DEV with O_DIRECT in
// 256 KiB blocks and prints the nanoseconds the writes took.
func helperDirectWrite(args []string) int {
	if len(args) != 2 {
		return 2
	}
	mib, _ := strconv.Atoi(args[1])
	fd, err := unix.Open(args[0], unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	// mmap gives page alignment, which O_DIRECT needs.
	const block = 256 << 10
	buf, err := unix.Mmap(-1, 0, block, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return 1
	}
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	for i := 0; i < mib*(1<<20)/block; i++ {
		if _, err := unix.Pwrite(fd, buf, int64(i)*block); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			return 1
		}
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// startIn starts cmd directly inside cg (clone3 CLONE_INTO_CGROUP through
// cg.FD()), and kills and reaps it at cleanup.
func startIn(t *testing.T, cg *Cgroup, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v in %s: %v", cmd.Args, cg.Path(), err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// vmCgroup creates a cgroup with r below a fresh test parent and deletes
// it (killing what is left) at cleanup.
func vmCgroup(t *testing.T, name string, r Resources) *Cgroup {
	t.Helper()
	testutil.RequireVM(t)
	parent := testutil.TempCgroup(t)
	cg, err := New(filepath.Join(parent, name), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killDelete(t, cg) })
	return cg
}

func killDelete(t testing.TB, cg *Cgroup) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cg.DeleteContext(ctx, DeleteOptions{Kill: true}); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func stats(t *testing.T, cg *Cgroup, mask StatMask) Stats {
	t.Helper()
	var s Stats
	if err := cg.Stats(&s, mask); err != nil {
		t.Fatal(err)
	}
	return s
}

// loopDevice attaches a sparse file on a private tmpfs to a free loop
// device and returns its path; detached at cleanup.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		_ = exec.Command("modprobe", "loop").Run()
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size+(1<<20), 10)); err != nil {
		t.Fatalf("mounting tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	backing, err := os.Create(filepath.Join(dir, "disk"))
	if err != nil {
		t.Fatal(err)
	}
	defer backing.Close()
	if err := backing.Truncate(size); err != nil {
		t.Fatal(err)
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("loop control: %v", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		t.Fatalf("LOOP_CTL_GET_FREE: %v", err)
	}
	dev := "/dev/loop" + strconv.Itoa(n)
	lf, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_SET_FD, int(backing.Fd())); err != nil {
		t.Fatalf("LOOP_SET_FD: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(dev, os.O_RDWR, 0); err == nil {
			_ = unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
			f.Close()
		}
	})
	return dev
}
