package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// warmNetpoller starts the Go runtime's network poller, whose epoll and
// eventfd descriptors live as long as the process, so they are not
// counted as the demo's own.
func warmNetpoller() {
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
}

// openFDs maps this process's open fds to what they point at.
func openFDs() (map[string]string, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			m[e.Name()] = target
		}
	}
	return m, nil
}

// reportLeaks prints the fds opened since before and fails if there are
// any: the listener, the socket and every memfd must be closed by now.
func reportLeaks(before map[string]string) error {
	after, err := openFDs()
	if err != nil {
		return err
	}
	var leaked []string
	for fd, target := range after {
		if _, ok := before[fd]; !ok {
			leaked = append(leaked, fd+" -> "+target)
		}
	}
	if len(leaked) > 0 {
		sort.Strings(leaked)
		return fmt.Errorf("fds left open: %s", strings.Join(leaked, ", "))
	}
	fmt.Println("supervisor: no fds left open")
	return nil
}
