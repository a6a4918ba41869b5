// Package netns manages Linux network namespaces as things you name and
// keep: persistent named namespaces under /run/netns (compatible with
// `ip netns`), handles opened by name, path or pid, running code inside a
// namespace on a locked OS thread, loopback set-up, and veth pairs
// between namespaces with addresses and routes.
//
// # What it does
//
// Create(name) does what `ip netns add` does: it makes /run/netns a shared
// bind mount of itself if it is not a mount point yet, makes a new network
// namespace (namespace.New) and bind-mounts it onto /run/netns/NAME
// (Handle.Bind). Delete(name) detaches
// that mount and unlinks the file; the kernel frees the namespace once no
// process, socket or handle uses it any more.
//
// A *Handle is the namespace package's handle (netns.Handle is an alias of
// namespace.Handle), verified with NS_GET_NSTYPE to be a network namespace.
// Handles compare with Equal (nsfs device and inode), and must be closed
// with Close (nil-safe, idempotent). There is one way to run code inside
// one, for every namespace kind: namespace.Do(fn, h) runs fn on a fresh
// goroutine locked to its OS thread after that thread joined h; sockets
// created in fn belong to h, which is how to listen or dial inside. One
// way to start a command in one: namespace.Cmd.Join. And one way to make
// an anonymous one: namespace.New(namespace.NET); Create names it.
//
// LoopbackUp and CreateVeth talk rtnetlink (github.com/vishvananda/netlink)
// through sockets opened inside the target namespace with namespace.Do, so
// they never switch the namespace of any other thread. A namespace.Handle
// of another kind passed where a network namespace is needed is refused
// with ErrNotNetns.
//
// # Requirements
//
// Linux 4.11 or newer (NS_GET_NSTYPE); older kernels get an error matching
// ErrNotSupported. Creating, deleting and joining namespaces needs
// CAP_SYS_ADMIN, configuring links CAP_NET_ADMIN (in practice: root).
// Create and Delete change the mount table of the caller's mount
// namespace; run them in the host mount namespace if other processes
// should see the names.
//
// # Errors
//
// Invalid input is rejected before any system call: *InvalidError for a
// namespace name, *InvalidError (naming the field and value) for Veth and
// other arguments. Failed system calls come back as *StepError wrapping the
// errno, so errors.Is(err, os.ErrExist), errors.Is(err, os.ErrNotExist) or
// errors.Is(err, unix.EPERM) work. ErrNotNetns is wrapped when a path is
// not a network namespace, ErrClosed when a closed handle is used.
//
// # When not to use it
//
// To start a process in a new network namespace, create the namespace in
// the spawn path (package namespace) instead of a named one: named
// namespaces outlive the process and must be deleted. namespace.Do is for
// short set-up work (open a socket, configure a link), not for running a
// long server loop: every goroutine fn starts runs outside the namespace.
package netns
