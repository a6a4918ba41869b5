// Package ocisuite builds and runs the OCI runtime conformance suite,
// runtime-tools v0.9.0's validation programs, against a runtime, and reads
// their TAP output. It is test-bed infrastructure for
// examples/confine-runtime (its TestVMConformance and TestConformance);
// nothing of runtime-tools is kept in this repository.
//
// # Building
//
// Build makes a scratch Go module below the test bed's cache
// ($CONFINE_CACHE/ocisuite/runtime-tools-v0.9.0, see DefaultDir) requiring
// runtime-tools at v0.9.0 with the dependency versions it builds with
// (runtime-spec v1.0.2, urfave/cli v1.19.1, selinux v1.10.0), rewrites its
// 58 validation programs and runtimetest into one binary that dispatches
// on argv[0] (the programs' code unchanged but for `package main` and
// `func main`), and builds it with CGO_ENABLED=0. It needs the go command
// and the Go module proxy, once: later calls find the suite in place.
// The VM has neither, so `make oci-suite` builds it on the host and the VM
// runner ships it (CONFINE_VM_FILES, see internal/vmtest).
//
// # Running
//
// Suite.Run runs one program the way its README says (from a directory
// holding the rootfs tarball and runtimetest, RUNTIME naming the runtime)
// and returns its exit status and a Summary of its TAP. A program passes
// when Summary.Problem finds nothing: exit status 0, some TAP, no failing
// point, the plan's number of points, and no error diagnostic in place of
// points. The programs that report through their exit status alone are
// judged by Summary.SilentProblem, which accepts no output.
//
// # Errors
//
// Build wraps the failing go command's output; Run reports a program
// that could not start or was killed in Result.Err, never as a pass.
//
// Not for production use: Linux/amd64 test infrastructure.
package ocisuite
