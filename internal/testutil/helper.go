package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// EnvHelper names the helper a re-executed test binary should run.
const EnvHelper = "CONFINE_TEST_HELPER"

var (
	helpersMu sync.Mutex
	helpers   = map[string]func(args []string) int{
		"alloc": helperAlloc,
		"spin":  helperSpin,
		"sleep": helperSleep,
		"exit":  helperExit,
	}
)

// RegisterHelper adds a named child behaviour; call it from init or TestMain.
// fn gets the arguments after the name and returns the exit status.
func RegisterHelper(name string, fn func(args []string) int) {
	helpersMu.Lock()
	defer helpersMu.Unlock()
	helpers[name] = fn
}

// RunHelperIfAsked must be called first thing in TestMain: when this test
// binary was re-executed by HelperCommand it runs the helper and exits.
func RunHelperIfAsked() {
	name := os.Getenv(EnvHelper)
	if name == "" {
		return
	}
	helpersMu.Lock()
	fn := helpers[name]
	helpersMu.Unlock()
	if fn == nil {
		fmt.Fprintf(os.Stderr, "testutil: unknown helper %q\n", name)
		os.Exit(2)
	}
	os.Exit(fn(os.Args[1:]))
}

// HelperCommand returns a command that re-executes the test binary as the
// named helper (the package's TestMain must call RunHelperIfAsked).
// Built-in helpers:
//
//	alloc MiB   allocate and touch MiB mebibytes, print "done", exit 0
//	spin [SEC]  burn CPU (for SEC seconds, default forever)
//	sleep SEC   sleep
//	exit N      exit with status N
func HelperCommand(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	// Without atexit_sleep_ms=0 a -race child sleeps 1 s when it exits.
	cmd.Env = append(os.Environ(), EnvHelper+"="+name, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	return cmd
}

func atoi(args []string, i, def int) int {
	if i >= len(args) {
		return def
	}
	n, err := strconv.Atoi(args[i])
	if err != nil {
		fmt.Fprintf(os.Stderr, "testutil helper: bad number %q\n", args[i])
		os.Exit(2)
	}
	return n
}

var (
	sink     [][]byte
	spinSink int
)

func helperAlloc(args []string) int {
	mib := atoi(args, 0, 64)
	for i := 0; i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		sink = append(sink, b)
	}
	fmt.Println("done")
	return 0
}

func helperSpin(args []string) int {
	secs := atoi(args, 0, 0)
	var deadline time.Time
	if secs > 0 {
		deadline = time.Now().Add(time.Duration(secs) * time.Second)
	}
	for i := 0; ; i++ {
		spinSink += i
		if i%(1<<20) == 0 && secs > 0 && time.Now().After(deadline) {
			return min(spinSink, 0) // read the sink so the loop stays
		}
	}
}

func helperSleep(args []string) int {
	time.Sleep(time.Duration(atoi(args, 0, 3600)) * time.Second)
	return 0
}

func helperExit(args []string) int { return atoi(args, 0, 0) }
