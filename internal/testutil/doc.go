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
package testutil
