package netns

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameLen is NAME_MAX: a name is one path component below RunDir.
const maxNameLen = 255

// ValidateName checks that name can be a namespace name: one path
// component of 1 to 255 bytes, valid UTF-8, not "." or "..", without '/',
// NUL, whitespace or control characters (stricter than `ip netns`, so a name
// never needs quoting). It returns a *InvalidError.
func ValidateName(name string) error {
	bad := func(reason string) error { return invalid("name", name, reason) }
	switch {
	case name == "":
		return bad("must not be empty")
	case len(name) > maxNameLen:
		return bad("longer than 255 bytes")
	case name == "." || name == "..":
		return bad("must not be . or ..")
	case strings.ContainsRune(name, '/'):
		return bad("must not contain '/'")
	case !utf8.ValidString(name):
		return bad("must be valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return bad("must not contain whitespace or control characters")
		}
	}
	return nil
}
