package cgroup_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/confinelab/confine/cgroup"
)

// One watcher serves every cgroup of a manager: add each one and read the
// channel in a single goroutine.
func ExampleWatcher() {
	w, err := cgroup.NewWatcher(64)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	c, err := cgroup.Open("mygroup")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := w.Add(c); err != nil {
		log.Fatal(err)
	}
	for ev := range w.Events() {
		switch ev.Kind {
		case cgroup.EventOOMKill:
			fmt.Printf("%s: %d processes OOM-killed so far\n", ev.Cgroup.Path(), ev.Count)
		case cgroup.EventEmpty:
			fmt.Printf("%s: empty\n", ev.Cgroup.Path())
			return
		}
	}
}

// Freeze returns once the kernel reports the whole subtree frozen; a
// timeout thaws it again.
func ExampleCgroup_Freeze() {
	c, err := cgroup.Open("mygroup")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Freeze(ctx); err != nil {
		log.Fatal(err)
	}
	// ... inspect or checkpoint the frozen processes ...
	if err := c.Thaw(ctx); err != nil {
		log.Fatal(err)
	}
}

// Kill stops everything in the subtree and waits until it is empty, so the
// cgroup can be deleted right after.
func ExampleCgroup_Kill() {
	c, err := cgroup.Open("mygroup")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Kill(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.Delete(); err != nil {
		log.Fatal(err)
	}
}

// Device rules: Docker's defaults plus read-write access to /dev/fuse.
func ExampleDefaultDevices() {
	rules := append(cgroup.DefaultDevices(),
		cgroup.AllowDevice(cgroup.CharDevice, 10, 229, cgroup.DeviceRead|cgroup.DeviceWrite))
	c, err := cgroup.Open("mygroup")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Apply(cgroup.Resources{Devices: rules}); err != nil {
		log.Fatal(err)
	}
}
