package seccomp

import specs "github.com/opencontainers/runtime-spec/specs-go"

// FromOCI converts the runtime-spec seccomp section into a Profile and
// validates it. ListenerPath and ListenerMetadata have no equivalent here:
// a caller wanting them loads with FlagNewListener and passes the Listener
// on itself.
func FromOCI(s *specs.LinuxSeccomp) (*Profile, error) {
	p := &Profile{DefaultAction: string(s.DefaultAction), DefaultErrnoRet: s.DefaultErrnoRet}
	for _, a := range s.Architectures {
		p.Architectures = append(p.Architectures, string(a))
	}
	for _, f := range s.Flags {
		p.Flags = append(p.Flags, string(f))
	}
	for _, sc := range s.Syscalls {
		g := Syscall{Names: sc.Names, Action: string(sc.Action), ErrnoRet: sc.ErrnoRet}
		for _, a := range sc.Args {
			g.Args = append(g.Args, Arg{Index: a.Index, Value: a.Value, ValueTwo: a.ValueTwo, Op: string(a.Op)})
		}
		p.Syscalls = append(p.Syscalls, g)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
