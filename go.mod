module github.com/confinelab/confine

go 1.26.0

require (
	github.com/cilium/ebpf v0.22.0
	github.com/containerd/go-runc v1.2.1
	github.com/moby/sys/mountinfo v0.7.3
	github.com/opencontainers/runtime-spec v1.3.0
	github.com/stretchr/testify v1.12.1
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	golang.org/x/sys v0.50.0
)

require (
	github.com/containerd/console v1.0.5 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
