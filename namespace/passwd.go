package namespace

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// ErrUnknownUser is matched by the *StepError returned when
// Credential.User names no user in the sandbox's /etc/passwd.
var ErrUnknownUser = errors.New("unknown user")

// lookupUser finds name (or a numeric uid) in /etc/passwd content and
// returns its uid and primary gid.
func lookupUser(passwd []byte, name string) (uid, gid uint32, err error) {
	sc := bufio.NewScanner(bytes.NewReader(passwd))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] != name && f[2] != name {
			continue
		}
		u, err1 := strconv.ParseUint(f[2], 10, 32)
		g, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return uint32(u), uint32(g), nil
	}
	return 0, 0, ErrUnknownUser
}
