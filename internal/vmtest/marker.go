package vmtest

import (
	"strconv"
	"strings"
)

// markerPrefix starts the line /init prints after the test binary exits:
// CONFINE-VM-EXIT[<nonce>]=<status>. The per-run nonce keeps a test that
// prints a marker-like line from faking its own exit status.
const markerPrefix = "CONFINE-VM-EXIT["

// Marker returns the exit marker /init prints for nonce and status.
func Marker(nonce string, status int) string {
	return markerPrefix + nonce + "]=" + strconv.Itoa(status)
}

// ParseMarker looks for the exit marker of nonce anywhere in line, so that a
// kernel message printed on the same line before or after it does not hide
// it. It returns the text before the marker (the test's unterminated output,
// or console noise), the status, and whether a marker was found.
func ParseMarker(line, nonce string) (before string, status int, ok bool) {
	key := markerPrefix + nonce + "]="
	i := strings.LastIndex(line, key)
	if i < 0 || nonce == "" {
		return line, 0, false
	}
	rest := line[i+len(key):]
	j := 0
	for j < len(rest) && j < 4 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 {
		return line, 0, false
	}
	n, err := strconv.Atoi(rest[:j])
	if err != nil || n > 255 {
		return line, 0, false
	}
	return line[:i], n, true
}
