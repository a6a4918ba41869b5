# confine: build, test, benchmark.
#
#   make test                     all three test tiers (host, root on host, VM)
#   make test-host                tiers 1 and 2 on this machine (-race)
#   make test-vm [PKG=./cgroup] [RUN=TestVMMemory]   tier 3 inside the qemu VM
#   make bench                    Go benchmarks, then the end-to-end suite (bench-suite)
#   make lint                     gofmt, go vet, staticcheck
#   make conformance              the OCI conformance suite against confine-runtime, in the VM
#   make bench-cgroups            confine vs containerd/cgroups vs runc fs2, in the VM
#   make bench-runtimes           confine-runtime vs runc vs crun (run; create+start+delete), in the VM
#   make test-containerd          containerd + ctr with confine-runtime as runc, in the VM
#   make test-cri                 containerd's CRI plugin + crictl: a pod with the confine handler, in the VM
SHELL := /bin/bash
GO ?= go
export CONFINE_CACHE ?= /var/cache/confine
VMEXEC := $(CURDIR)/.cache/bin/vmexec
# Packages holding tier-3 tests (func TestVM...), found by name.
VM_PKGS := $(shell grep -rlE '^func TestVM' --include='*_test.go' . 2>/dev/null | xargs -r -n1 dirname | sort -u)
PKG ?= $(VM_PKGS)
RUN ?= ^TestVM
VM_TIMEOUT ?= 30m
HOST_TIMEOUT ?= 20m
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# containerd, ctr, the runc shim, crictl and the CNI plugins bridge,
# host-local and loopback (internal/containerdbuild): built on the host (they
# need the module proxy) and shipped into the VM, where TestVMContainerd
# (ctr) and TestVMCRI (crictl, the CRI plugin, a pod networked through CNI)
# run them with confine-runtime.
export CONFINE_CONTAINERD ?= $(CONFINE_CACHE)/containerd
# The OCI conformance suite (runtime-tools v0.9.0, internal/ocisuite): built
# on the host (it needs the module proxy) and shipped into the VM, where
# TestVMConformance runs it against confine-runtime.
export CONFINE_OCI_SUITE ?= $(CONFINE_CACHE)/ocisuite/runtime-tools-v0.9.0
# Only the VM runs of confine-runtime's package get them: 76 MB more in
# the initramfs cost about 8 s of every boot under emulation.
RT_VM_PKGS := $(filter %confine-runtime,$(PKG))
VM_FILES := $(if $(RT_VM_PKGS),$(CONFINE_CONTAINERD):$(CONFINE_OCI_SUITE))
VM_TEST = CGO_ENABLED=0 $(GO) test -p 1 -count=1 -timeout $(VM_TIMEOUT) -exec $(VMEXEC) -run '$(RUN)'

.PHONY: all build test test-host test-vm provision vmexec bench lint

all: build

build:
	$(GO) build ./...
	$(GO) vet ./...

test: lint test-host test-vm

# The cgroup package runs alone, after the others: its bandwidth tests hold
# real TCP and UDP streams to a rate on this host's CPUs, and beside the
# race-detector builds of the other packages (the runtime's conformance
# suite, containers started by the hundred) a 2-CPU host starves their
# senders: a limiter cannot pass what nobody sends. About 5 minutes more.
HOST_TEST = $(GO) test -race -count=1 -timeout $(HOST_TIMEOUT) -skip '^TestVM'
test-host:
	@rc=0; \
	$(HOST_TEST) $$($(GO) list ./... | grep -v '^github.com/confinelab/confine/cgroup$$') || rc=1; \
	$(HOST_TEST) ./cgroup/ || rc=1; \
	exit $$rc

provision:
	bash internal/vmtest/provision.sh

vmexec:
	@mkdir -p $(dir $(VMEXEC))
	$(GO) build -o $(VMEXEC) ./internal/vmtest/cmd/vmexec

test-vm: provision vmexec $(if $(VM_FILES),containerd oci-suite)
	rc=0; \
	$(if $(filter-out $(RT_VM_PKGS),$(PKG)),$(VM_TEST) $(filter-out $(RT_VM_PKGS),$(PKG)) || rc=1;) \
	$(if $(RT_VM_PKGS),CONFINE_VM_FILES=$(VM_FILES) $(VM_TEST) $(RT_VM_PKGS) || rc=1;) \
	exit $$rc

# confine-runtime against runc and crun (BenchmarkRuntimes: run, and
# create+start+delete, of a busybox bundle running /bin/true) in the VM: crun
# refuses hybrid hosts. Both come from Debian's packages and are carried in
# with their shared libraries (CONFINE_VM_PROGRAMS).
RUNTIME_RUNS ?= 40
.PHONY: bench-runtimes
bench-runtimes: provision vmexec
	command -v crun >/dev/null && command -v runc >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq runc crun; }
	CGO_ENABLED=0 CONFINE_VM_PROGRAMS=$$(command -v runc):$$(command -v crun) $(GO) test -count=1 -run '^$$' \
		-bench '^BenchmarkRuntimes$$' -benchtime $(RUNTIME_RUNS)x -timeout $(VM_TIMEOUT) -exec $(VMEXEC) \
		./examples/confine-runtime

.PHONY: containerd test-containerd test-cri oci-suite conformance
containerd:
	$(GO) run ./internal/containerdbuild/cmd/containerdbuild -dir $(CONFINE_CONTAINERD)

# containerd end to end: ctr run/exec/kill/delete through the runc shim with
# confine-runtime in runc's place, an image made by the test, a memory limit.
test-containerd: provision vmexec containerd
	CGO_ENABLED=0 CONFINE_VM_FILES=$(CONFINE_CONTAINERD) $(GO) test -v -count=1 -timeout $(VM_TIMEOUT) \
		-exec $(VMEXEC) -run '^TestVMContainerd$$' ./examples/confine-runtime

# Kubernetes' path: crictl through containerd's CRI plugin runs a pod and a
# container with the RuntimeClass handler confine (the README's config).
test-cri: provision vmexec containerd
	CGO_ENABLED=0 CONFINE_VM_FILES=$(CONFINE_CONTAINERD) $(GO) test -v -count=1 -timeout $(VM_TIMEOUT) \
		-exec $(VMEXEC) -run '^TestVMCRI$$' ./examples/confine-runtime

oci-suite:
	$(GO) run ./internal/ocisuite/cmd/ocisuite -dir $(CONFINE_OCI_SUITE)

# Every program of the suite against confine-runtime in the VM (pure
# cgroup v2), judged against the table in
# examples/confine-runtime/conformance_test.go; prints the per-program table.
conformance: provision vmexec oci-suite
	set -o pipefail; CGO_ENABLED=0 CONFINE_VM_FILES=$(CONFINE_OCI_SUITE) $(GO) test -v -count=1 \
		-timeout $(VM_TIMEOUT) -exec $(VMEXEC) -run '^TestVMConformance$$' ./examples/confine-runtime | \
		grep -v -e '^=== RUN' -e '^    --- PASS'

bench:
	$(GO) test -run '^$$' -bench . -benchmem -skip '^TestVM' ./...
	$(MAKE) bench-suite

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The README's main command: a tour of `confine run` inside the test bed's
# VM (pure cgroup v2, every controller), showing each limit act.
CONFINE_BIN := $(CURDIR)/.cache/bin/confine
.PHONY: demo bench-suite confine-bin
confine-bin:
	@mkdir -p $(dir $(CONFINE_BIN))
	CGO_ENABLED=0 $(GO) build -o $(CONFINE_BIN) ./examples/confine

demo: provision vmexec confine-bin
	cd examples/confine && $(VMEXEC) $(CONFINE_BIN) demo

# End-to-end benchmark table (spawn latency vs unshare/bwrap/runc, cgroup
# and seccomp costs), saved to examples/confine/bench/RESULTS.md.
BENCH_N ?= 30
bench-suite: confine-bin
	@command -v bwrap >/dev/null || apt-get install -y bubblewrap
	@command -v runc >/dev/null || apt-get install -y runc
	$(GO) run ./examples/confine/bench -confine $(CONFINE_BIN) -n $(BENCH_N) -o examples/confine/bench/RESULTS.md

# cgroup hot paths against containerd/cgroups v3 and runc's fs2, inside the
# VM (pure cgroup v2). A nested module: its dependencies stay out of ours.
# See examples/confine/bench/cgcompare/README.md.
CGCOMPARE_COUNT ?= 3
CGCOMPARE_N ?= 100x
.PHONY: bench-cgroups
bench-cgroups: provision vmexec
	cd examples/confine/bench/cgcompare && CGO_ENABLED=0 $(GO) test -count $(CGCOMPARE_COUNT) -timeout $(VM_TIMEOUT) \
		-exec $(VMEXEC) -run '^$$' -bench . -benchmem -benchtime $(CGCOMPARE_N) .
