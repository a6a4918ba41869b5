package mount

// SKELETON (owned by the mount work). Package namespace relies on these
// names; the mount work fills them in and may add fields. Root and Mount
// must stay JSON round-trippable (exported plain fields only): namespace
// passes them to its re-executed init.

// Mount is one filesystem to mount inside the root.
type Mount struct {
	Source  string
	Target  string // path inside the root
	Type    string // "bind", "tmpfs", "proc", ...
	Options []string
}

// Root describes a private root filesystem.
type Root struct {
	// Path is the root filesystem directory; "" means the host's root seen
	// through a private mount namespace.
	Path          string
	Readonly      bool
	Mounts        []Mount
	MaskedPaths   []string
	ReadonlyPaths []string
}

// Setup builds the root inside the calling thread's (fresh, private) mount
// namespace and pivots into it. It runs in namespace's init, between clone
// and exec.
func (r *Root) Setup() error { return nil }
