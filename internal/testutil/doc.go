// Package testutil holds the skip policy and throwaway kernel objects that
// confine's tests share.
//
// # Test tiers
//
//  1. Anywhere: no helper needed.
//  2. Root on the host: call RequireRoot and the Require* helpers for what the
//     test needs.
//  3. VM: tests named TestVM* that call RequireVM first. `make test` runs them
//     inside a qemu VM with a pure cgroup v2 hierarchy (internal/vmtest); on
//     the host they always skip, since the host run excludes them by name.
//
// # Skip policy
//
// A Require* helper skips the test when the host lacks what it needs, with the
// reason. When CONFINE_STRICT=1 (set by the VM runner inside the VM and by
// .ci/run for the host tier) the same helper fails the test instead: in CI a
// missing feature is a broken test bed, not a pass.
//
// # Host properties
//
// Machines of the same kind differ from host to host (int $0x80 faults on
// some, dev.tty.legacy_tiocsti, a capability missing from every bounding
// set). A test whose claim depends on such a property asks for it in one
// line (RequireInt80, RequireLegacyTIOCSTI, RequireCapability), naming the
// VM-tier test that proves the same claim. SkipHost then skips on the host
// even in strict mode, and fails in strict mode inside the VM, whose
// kernel and emulated CPU have every such property.
package testutil
