package vmtest

import (
	"fmt"
	"strings"
	"time"
)

// DefaultTestTimeout is go test's own default, used when the arguments
// carry no -test.timeout.
const DefaultTestTimeout = 10 * time.Minute

// BootMargin is added to the test timeout for booting and powering off the
// VM under TCG emulation on a busy machine (20 s seen at load 19 on 2
// cores). It stays under the minute after which go test kills a test
// binary that overran -timeout, so the watchdog's message comes first.
const BootMargin = 50 * time.Second

// TestTimeout returns the -test.timeout value in args ("-test.timeout=D",
// "-test.timeout D", or with one dash less or more), and whether one was
// given. A malformed value is an error naming it.
func TestTimeout(args []string) (time.Duration, bool, error) {
	var d time.Duration
	found := false
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || (name != "test.timeout" && name != "timeout") {
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return 0, false, fmt.Errorf("vmtest: %s: missing value", args[i])
			}
			i++
			val = args[i]
		}
		v, err := time.ParseDuration(val)
		if err != nil || v < 0 {
			return 0, false, fmt.Errorf("vmtest: -test.timeout: %q: not a duration >= 0", val)
		}
		d, found = v, true
	}
	return d, found, nil
}

// Watchdog returns how long the VM may run: the test timeout plus
// BootMargin, DefaultTestTimeout when none was given, and an hour when the
// test timeout is disabled (0), so a hung VM never blocks CI forever.
func Watchdog(args []string) (time.Duration, error) {
	d, found, err := TestTimeout(args)
	if err != nil {
		return 0, err
	}
	switch {
	case !found:
		d = DefaultTestTimeout
	case d == 0:
		d = time.Hour
	}
	return d + BootMargin, nil
}

// hostOnlyFlags name -test.* flags whose value is a host path the VM cannot
// write back; they are dropped (with a note) rather than failing the test.
var hostOnlyFlags = []string{"test.testlogfile", "test.gocoverdir", "test.coverprofile",
	"test.cpuprofile", "test.memprofile", "test.blockprofile", "test.mutexprofile",
	"test.trace", "test.outputdir"}

// VMArgs returns args without the host-only flags, and the dropped ones.
func VMArgs(args []string) (keep, dropped []string) {
	for i := 0; i < len(args); i++ {
		name, _, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if strings.HasPrefix(args[i], "-") && contains(hostOnlyFlags, name) {
			dropped = append(dropped, args[i])
			if !hasVal && i+1 < len(args) {
				i++
			}
			continue
		}
		keep = append(keep, args[i])
	}
	return keep, dropped
}
