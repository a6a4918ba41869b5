package cgroup_test

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"syscall"
	"time"

	"github.com/confinelab/confine/cgroup"
)

// Create a cgroup with half a CPU, 512 MiB and 64 tasks, start a command
// directly inside it, and remove the cgroup afterwards.
func ExampleNew() {
	r := cgroup.Resources{
		CPU:    &cgroup.CPU{Max: cgroup.CPUs(0.5)},
		Memory: &cgroup.Memory{Max: 512 << 20},
		Pids:   &cgroup.Pids{Max: 64},
	}
	cg, err := cgroup.New("example/job", r)
	if err != nil {
		log.Fatal(err) // e.g. a *cgroup.V1BoundError on hybrid hosts
	}
	defer cg.Delete()
	cmd := exec.Command("sleep", "1")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
	if err := cmd.Run(); err != nil {
		log.Fatal(err)
	}
}

// Tear down a job's cgroup: kill whatever is still running in it, wait
// for the processes to leave, and remove the tree, within 30 seconds.
func ExampleCgroup_DeleteContext() {
	cg, err := cgroup.Open("example/job")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cg.DeleteContext(ctx, cgroup.DeleteOptions{Kill: true}); err != nil {
		log.Fatal(err) // wraps EBUSY (and ctx's error) if it stayed populated
	}
}

// Read CPU and memory usage into a reused Stats value.
func ExampleCgroup_Stats() {
	cg, err := cgroup.Open("example/job")
	if err != nil {
		log.Fatal(err)
	}
	defer cg.Close()
	var s cgroup.Stats
	if err := cg.Stats(&s, cgroup.StatCPU|cgroup.StatMemory); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cpu %d µs, memory %d bytes (peak %d), oom kills %d\n",
		s.CPU.UsageUsec, s.Memory.Current, s.Memory.Peak, s.Memory.Events.OOMKill)
}

// Convert Kubernetes requests and limits.
func ExampleKubernetesCPU() {
	cpu, err := cgroup.KubernetesCPU("250m", "500m")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cpu.Weight, cpu.Max.Quota, cpu.Max.Period)
	// Output: 10 50ms 100ms
}
