package mount_test

import (
	"fmt"
	"log"

	"github.com/confinelab/confine/mount"
)

// A read-only root like `confine run --rootfs DIR --read-only --tmpfs /tmp`.
// Setup must run in a fresh mount namespace, e.g. in namespace's init.
func ExampleRoot_Setup() {
	root := mount.Root{
		Path:     "/srv/rootfs",
		Readonly: true,
		Mounts: []mount.Mount{
			mount.Proc("/proc"),
			mount.Sysfs("/sys"),
			mount.Dev("/dev"),
			mount.Tmpfs("/tmp", 64<<20, 0o1777, mount.NoSuid|mount.NoDev),
			mount.Bind("/srv/data", "/data", mount.ReadOnly),
		},
		MaskedPaths:   mount.DefaultMaskedPaths(),
		ReadonlyPaths: mount.DefaultReadonlyPaths(),
	}
	if err := root.Setup(); err != nil {
		log.Fatal(err) // e.g. mount: mount proc /proc: openat2 proc: too many levels of symbolic links
	}
}

// The same root with DefaultRoot.
func ExampleDefaultRoot() {
	root := mount.DefaultRoot("/srv/rootfs", true)
	root.Mounts = append(root.Mounts, mount.Tmpfs("/tmp", 64<<20, 0o1777, mount.NoSuid|mount.NoDev))
	for _, m := range root.Mounts {
		fmt.Println(m.Type, m.Target)
	}
	// Output:
	// proc /proc
	// sysfs /sys
	// dev /dev
	// tmpfs /tmp
}

func ExampleParseTmpfs() {
	m, err := mount.ParseTmpfs("/run:size=64m,mode=755")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Target, m.Type, m.Options)
	_, err = mount.ParseTmpfs("/run:size=lots")
	fmt.Println(err)
	// Output:
	// /run tmpfs [nosuid nodev noexec size=64m mode=755]
	// mount: Options: "size=lots": invalid size: want a number like 512m or 1.5g
}

func ExampleParseVolume() {
	m, err := mount.ParseVolume("/srv/data:/data:ro")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", m)
	// Output:
	// {Source:/srv/data Target:/data Type:bind Options:[rbind ro]}
}

func ExampleMountsUnder() {
	infos, err := mount.MountsUnder("/proc")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(infos[0].Mountpoint, infos[0].FSType)
	// Output: /proc proc
}
