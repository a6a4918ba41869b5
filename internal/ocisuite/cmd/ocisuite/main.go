// Command ocisuite builds the OCI conformance suite (runtime-tools v0.9.0)
// into the test bed's cache and prints its directory, for the Makefile:
//
//	go run ./internal/ocisuite/cmd/ocisuite [-dir DIR]
//
// DIR defaults to $CONFINE_OCI_SUITE, else ocisuite.DefaultDir of
// $CONFINE_CACHE (default /var/cache/confine). A suite already there is
// reused. See package ocisuite.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/confinelab/confine/internal/ocisuite"
	"github.com/confinelab/confine/internal/vmtest"
)

func main() {
	def := os.Getenv("CONFINE_OCI_SUITE")
	if def == "" {
		def = ocisuite.DefaultDir(vmtest.CacheDir())
	}
	dir := flag.String("dir", def, "where the suite is (or is built)")
	flag.Parse()
	s, err := ocisuite.Build(context.Background(), *dir, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(s.Dir)
}
