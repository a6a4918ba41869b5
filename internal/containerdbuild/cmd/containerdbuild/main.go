// Command containerdbuild builds containerd, ctr and containerd-shim-runc-v2
// (containerd v2.4.2), crictl (cri-tools v1.37.0) and the CNI plugins
// bridge, host-local and loopback (containernetworking/plugins v1.10.0),
// static, no cgo, into the test bed's cache and prints their directory,
// for the Makefile:
//
//	go run ./internal/containerdbuild/cmd/containerdbuild [-dir DIR]
//
// DIR defaults to $CONFINE_CONTAINERD, else containerdbuild.DefaultDir of
// $CONFINE_CACHE (default /var/cache/confine). A build already there is
// reused. When the Go module proxy cannot be reached it records why in DIR
// (TestVMContainerd and TestVMCRI then skip, saying so) and exits 0, except with $CI
// set: then it fails, as a skip in CI would. See package containerdbuild.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/confinelab/confine/internal/containerdbuild"
	"github.com/confinelab/confine/internal/vmtest"
)

func main() {
	def := os.Getenv("CONFINE_CONTAINERD")
	if def == "" {
		def = containerdbuild.DefaultDir(vmtest.CacheDir())
	}
	dir := flag.String("dir", def, "where the binaries are (or are built)")
	flag.Parse()
	b, err := containerdbuild.Build(context.Background(), *dir, os.Stderr)
	if errors.Is(err, containerdbuild.ErrUnreachable) && os.Getenv("CI") == "" {
		if merr := containerdbuild.MarkUnavailable(*dir, err); merr != nil {
			fmt.Fprintln(os.Stderr, merr)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "%v\ncontainerdbuild: TestVMContainerd and TestVMCRI will skip (in CI, with $CI set, this fails)\n", err)
		fmt.Println(*dir)
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(b.Dir)
}
