// Package containerdbuild builds containerd, ctr and containerd-shim-runc-v2
// from the containerd Go module, crictl from cri-tools' module, and the CNI
// plugins bridge, host-local and loopback from containernetworking/plugins,
// into the test bed's cache, for the tier-3 tests that run containerd with
// confine-runtime as its runc (examples/confine-runtime, TestVMContainerd
// through ctr, TestVMCRI through crictl and containerd's CRI plugin, its
// pod networked through CNI). Nothing of containerd, cri-tools or the CNI
// plugins is kept in this repository.
//
// # Building
//
// Build makes a scratch Go module beside its target directory
// ($CONFINE_CACHE/containerd by default, see DefaultDir) requiring
// github.com/containerd/containerd/v2 at Version, and builds the three
// commands static with CGO_ENABLED=0 and the build tags that drop the
// snapshotters needing cgo or host tools (btrfs, devmapper, zfs, aufs),
// symbols stripped to keep the VM's in-memory root small; then crictl the
// same way from sigs.k8s.io/cri-tools at CrictlVersion, and the CNI plugins
// from github.com/containernetworking/plugins at CNIVersion into the
// directory's cni/ (Bins.CNIDir), each in a scratch module of its own (one
// build list would let cri-tools' Kubernetes requirements raise
// containerd's). It needs the go command and the Go module proxy (or a
// module cache that holds the modules), once: later calls find the
// binaries in place, whole or not at all (built aside, renamed into place,
// each part stamped with its version). A cache holding containerd's part
// from before crictl or the CNI plugins were added keeps it: only the
// missing parts are built and moved in.
//
// The VM has neither network nor Go, so `make containerd` (and `make
// test-vm` for confine-runtime's package) builds on the host and the VM
// runner ships the directory (CONFINE_VM_FILES, see internal/vmtest).
//
// # When the module proxy cannot be reached
//
// Build returns an *UnreachableError (errors.Is ErrUnreachable) when the
// go command failed for want of the network, any other failure as it is.
// The command cmd/containerdbuild then writes the reason into the
// directory (MarkUnavailable) and exits 0, unless $CI is set: outside CI a
// machine without the proxy skips TestVMContainerd with that reason (Open
// returns the *UnreachableError); in CI it is a failure, as every skip of
// the VM tier.
//
// Not for production use: Linux/amd64 test infrastructure.
package containerdbuild
