// Package spawnbench is the sandbox confine's spawn benchmarks measure
// against bwrap, written once for both places that measure it: the
// namespace package's Go benchmarks and the benchmark suite
// (examples/confine/bench). It composes the public packages, as a
// program would; no public package imports it.
package spawnbench
