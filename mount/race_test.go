package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/internal/testutil"
)

func init() { testutil.RegisterHelper("mount-race", helperRace) }

// raceReport is what the mount-race helper prints.
type raceReport struct {
	Rounds, Errors, Swaps int64
	Outside               []string
}

// startSwapper keeps exchanging a and b (relative to dirfd) with
// renameat2(RENAME_EXCHANGE) on its own goroutine, so that a path being
// resolved through them flips between a directory and a symlink at any
// moment. stop ends it, waits for it and returns how many swaps were made;
// it may be called more than once.
func startSwapper(dirfd int, a, b string) (stop func() int64) {
	var done atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			if unix.Renameat2(dirfd, a, dirfd, b, unix.RENAME_EXCHANGE) == nil {
				swaps.Add(1)
			}
		}
	}()
	return func() int64 {
		done.Store(true)
		wg.Wait()
		return swaps.Load()
	}
}

// helperRace runs in a throwaway mount namespace: a goroutine keeps
// swapping ROOT/a (a directory) with ROOT/alink (a symlink to the host)
// while the main goroutine applies mounts through them N times; every
// mount point created is checked to be inside ROOT.
// Args: ROOT N walk|openat2.
func helperRace(args []string) int {
	root := args[0]
	n, _ := strconv.Atoi(args[1])
	noOpenat2.Store(args[2] == "walk")
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var rep raceReport
	stopSwapping := startSwapper(rfd, "a", "alink")
	before := map[string]bool{}
	for _, p := range mountpoints() {
		before[p] = true
	}
	mounts := []Mount{Tmpfs("/a/sub", 0, 0, 0), Tmpfs("/a/new/dir", 0, 0, 0), Bind("/dev/null", "/a/file", 0)}
	s := &setup{r: &Root{Path: root}, root: rfd}
	for i := 0; i < n; i++ {
		for j := range mounts {
			po, _ := mounts[j].validate(j)
			if s.apply(j, &mounts[j], po) != nil {
				rep.Errors++
			}
		}
		rep.Rounds++
	}
	rep.Swaps = stopSwapping()
	for _, p := range mountpoints() {
		if !before[p] && !strings.HasPrefix(p, root+"/") {
			rep.Outside = append(rep.Outside, p)
		}
	}
	json.NewEncoder(os.Stdout).Encode(&rep)
	return 0
}

// The race at the level of single mounts, many rounds in one throwaway
// namespace (cheap enough to run hundreds of times).
func TestApplyRaceSymlinkSwap(t *testing.T) {
	requireSetup(t)
	for _, mode := range []string{"openat2", "walk"} {
		t.Run(mode, func(t *testing.T) {
			root := busyboxRoot(t)
			canary := canaryDir(t)
			if err := os.MkdirAll(filepath.Join(root, "a/sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			symlink(t, canary, root+"/alink")
			cmd := helperCommand(t, "mount-race", root, "300", mode)
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			var rep raceReport
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d rounds, %d failed mounts, %d swaps", rep.Rounds, rep.Errors, rep.Swaps)
			if len(rep.Outside) > 0 {
				t.Errorf("SECURITY: mounts outside the root: %q", rep.Outside)
			}
			if rep.Swaps == 0 {
				t.Error("the swapper never ran")
			}
			checkCanary(t, canary)
		})
	}
}
