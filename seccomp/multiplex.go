package seccomp

// On i386 the socket and System V IPC calls also exist as sub-calls of two
// multiplexers, socketcall(2) and ipc(2), whose first argument selects the
// call. libseccomp (2.5) applies a rule on one of these calls to its
// multiplexed form too, on every 32-bit x86 filter, whatever the kernel
// version: a rule on socket becomes, besides the rule on the direct
// syscall (i386 has it since Linux 4.3, the IPC calls since 5.1), a rule
// on socketcall whose argument 0 must equal SYS_SOCKET. Conditions on the
// direct call's argument 0 are replaced by that test; conditions on the
// other arguments are kept as they are, at the same index (in the
// multiplexed call those are the call's own arguments, so they compare
// other values: libseccomp does so, and so do we). Calls i386 has no
// direct syscall for (accept, send, recv, semop, semtimedop, ...) get only
// the multiplexed rule.

// i386 multiplexer syscall numbers.
const (
	nrSocketcall386 = 102
	nrIPC386        = 117
)

// muxCalls maps a call name to its i386 multiplexer and sub-call number:
// SYS_* of linux/net.h for socketcall, the call numbers of ipc(2).
var muxCalls = map[string]struct {
	nr  uint32
	sub uint64
}{
	"socket": {nrSocketcall386, 1}, "bind": {nrSocketcall386, 2}, "connect": {nrSocketcall386, 3},
	"listen": {nrSocketcall386, 4}, "accept": {nrSocketcall386, 5}, "getsockname": {nrSocketcall386, 6},
	"getpeername": {nrSocketcall386, 7}, "socketpair": {nrSocketcall386, 8}, "send": {nrSocketcall386, 9},
	"recv": {nrSocketcall386, 10}, "sendto": {nrSocketcall386, 11}, "recvfrom": {nrSocketcall386, 12},
	"shutdown": {nrSocketcall386, 13}, "setsockopt": {nrSocketcall386, 14}, "getsockopt": {nrSocketcall386, 15},
	"sendmsg": {nrSocketcall386, 16}, "recvmsg": {nrSocketcall386, 17}, "accept4": {nrSocketcall386, 18},
	"recvmmsg": {nrSocketcall386, 19}, "sendmmsg": {nrSocketcall386, 20},
	"semop": {nrIPC386, 1}, "semget": {nrIPC386, 2}, "semctl": {nrIPC386, 3}, "semtimedop": {nrIPC386, 4},
	"msgsnd": {nrIPC386, 11}, "msgrcv": {nrIPC386, 12}, "msgget": {nrIPC386, 13}, "msgctl": {nrIPC386, 14},
	"shmat": {nrIPC386, 21}, "shmdt": {nrIPC386, 22}, "shmget": {nrIPC386, 23}, "shmctl": {nrIPC386, 24},
}

// muxRule returns the rule libseccomp adds on the i386 multiplexer for a
// rule on the named call, or false when the call is not multiplexed.
func muxRule(name string, act Action, conds []Cond, group int) (Rule, bool) {
	m, ok := muxCalls[name]
	if !ok {
		return Rule{}, false
	}
	mc := []Cond{{Index: 0, Op: EQ, Value: m.sub}}
	for _, c := range conds {
		if c.Index != 0 {
			mc = append(mc, c)
		}
	}
	mux := "socketcall"
	if m.nr == nrIPC386 {
		mux = "ipc"
	}
	return Rule{Nr: m.nr, Name: mux + "(" + name + ")", Action: act, Conds: mc, Group: group}, true
}
