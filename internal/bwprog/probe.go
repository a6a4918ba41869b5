package bwprog

import (
	"sync"

	"github.com/cilium/ebpf"

	"github.com/confinelab/confine/internal"
)

// supported loads both programs once against throwaway maps. Everything
// the programs need is checked by that load: cgroup_skb with the egress
// attach type and return codes 2/3 (5.1), gso_segs (5.1), bpf_tcp_sock
// and bpf_skb_ecn_set_ce (5.1), skb->tstamp writes from cgroup_skb (5.0,
// commit f11216b24219), socket-local storage with BTF (5.2), BPF_ATOMIC
// fetch-add, xchg and cmpxchg (5.12, commit 5ca419f2864a). So 5.12 is the
// effective minimum; bpf_link for cgroups
// (5.7) is checked when pinning.
var supported = sync.OnceValue(func() error {
	m, err := newMaps()
	if err != nil {
		return &internal.UnsupportedError{Feature: "BPF array and socket-storage maps", MinKernel: "5.2", Err: err}
	}
	defer m.close()
	for _, d := range []Direction{Egress, Ingress} {
		p, err := ebpf.NewProgram(spec(d, &m))
		if err != nil {
			return &internal.UnsupportedError{Feature: "cgroup_skb bandwidth program",
				MinKernel: "5.12", Err: err}
		}
		p.Close()
	}
	p, err := ebpf.NewProgram(paceSpec(&m))
	if err != nil {
		return &internal.UnsupportedError{Feature: "sock_ops pacing program", MinKernel: "5.12", Err: err}
	}
	p.Close()
	return nil
})

// Supported reports whether this kernel loads the bandwidth programs; the
// error matches internal.ErrNotSupported.
func Supported() error { return supported() }
