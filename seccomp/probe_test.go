package seccomp

import "testing"

// Linux 6 (host and VM) has every feature the package uses.
func TestProbes(t *testing.T) {
	for name, probe := range map[string]func() error{
		"HaveUserNotification": HaveUserNotification, "HaveAddFD": HaveAddFD, "HaveAddFDSend": HaveAddFDSend,
	} {
		if err := probe(); err != nil {
			t.Errorf("%s on Linux 6: %v", name, err)
		}
	}
}
