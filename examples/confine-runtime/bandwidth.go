package main

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confinelab/confine/cgroup"
)

// The Kubernetes pod annotations the CNI bandwidth plugin reads: rates in
// bits per second as Kubernetes quantities ("10M", "1G", "500k").
const (
	annotationIngress = "kubernetes.io/ingress-bandwidth"
	annotationEgress  = "kubernetes.io/egress-bandwidth"
)

// convertBandwidth turns the bandwidth annotations into the cgroup
// package's eBPF rate limits on the container's cgroup (its sockets'
// traffic, both directions; egress in the virtual-queue mode, which needs
// no qdisc on a device the CNI plugin sets up later). Values are parsed as
// the kubelet does (a quantity, rounded up to whole bits per second) and
// must lie in its range, 1k..1P; anything else is a *ConfigError naming
// the annotation.
func convertBandwidth(s *specs.Spec, p *plan) error {
	var rates [2]uint64
	for i, name := range []string{annotationIngress, annotationEgress} {
		v, ok := s.Annotations[name]
		if !ok {
			continue
		}
		field := fmt.Sprintf("annotations[%q]", name)
		q, err := cgroup.ParseQuantity(v)
		if err != nil {
			return &ConfigError{Field: field, Value: v, Reason: "not a Kubernetes quantity (bits per second: 10M, 1G)", Err: err}
		}
		bps, ok := q.Value()
		if !ok || bps < 1000 || bps > 1e15 {
			return &ConfigError{Field: field, Value: v, Reason: "must be between 1k and 1P bits per second, as the kubelet requires"}
		}
		rates[i] = uint64(bps)
	}
	if rates != [2]uint64{} {
		p.resources.Network = &cgroup.Network{IngressRate: rates[0], EgressRate: rates[1]}
	}
	return nil
}
