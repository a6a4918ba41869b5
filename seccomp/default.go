package seccomp

// Default returns the built-in profile: for x86 it decides every syscall
// as Docker's default profile (moby/profiles/seccomp v0.3.0) does, for any
// capability set and kernel version (default_test.go proves it against
// Docker's JSON). Syscalls are refused with EPERM unless listed; those
// needing a capability are allowed only with it; socket families,
// personality values and clone flags are checked. Each call returns a new
// value the caller may modify.
func Default() *Profile {
	return &Profile{
		DefaultAction:   NameActErrno,
		DefaultErrnoRet: ptr(uint(1)),
		ArchMap: []ArchMap{
			{Arch: "SCMP_ARCH_X86_64", SubArches: []string{"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
			{Arch: "SCMP_ARCH_X86", SubArches: nil},
			{Arch: "SCMP_ARCH_X32", SubArches: nil},
		},
		Syscalls: defaultGroups(),
	}
}

func ptr[T any](v T) *T { return &v }

func defaultGroups() []Syscall {
	return []Syscall{
		{
			Names: []string{
				"accept", "accept4", "access", "adjtimex", "alarm", "bind",
				"brk", "cachestat", "capget", "capset", "chdir", "chmod",
				"chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
				"clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
				"connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
				"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
				"epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
				"exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
				"fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2",
				"fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
				"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
				"fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync",
				"ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait",
				"futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
				"getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
				"getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
				"getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
				"getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
				"getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
				"getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init",
				"inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
				"io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
				"ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
				"lchown32", "lgetxattr", "link", "linkat", "listen", "listmount",
				"listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek",
				"lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier",
				"memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
				"mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
				"mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
				"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl",
				"msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
				"munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
				"openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
				"pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
				"ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
				"process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2",
				"read", "readahead", "readlink", "readlinkat", "readv", "recv",
				"recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
				"removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "riscv_hwprobe",
				"rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
				"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
				"sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
				"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
				"seccomp", "select", "semctl", "semget", "semop", "semtimedop",
				"semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
				"sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
				"setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority",
				"setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
				"setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
				"set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat",
				"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
				"signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
				"splice", "stat", "stat64", "statfs", "statfs64", "statmount",
				"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
				"sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
				"timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
				"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
				"truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink",
				"unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes",
				"vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
				"writev",
			},
			Action: NameActAllow,
		},
		{
			Names:    []string{"process_vm_readv", "process_vm_writev", "ptrace"},
			Action:   NameActAllow,
			Includes: &Filter{MinKernel: "4.8"},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x3, ValueTwo: 0, Op: OpLT}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x7, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x8, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x9, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0xa, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0xd, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0xe, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0xf, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x10, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x11, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x12, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x15, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x16, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x18, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x1a, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x1b, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x1c, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x1d, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x1e, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x1f, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x20, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x21, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x23, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x24, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x27, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x29, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x2a, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x2b, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x2c, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"socket"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x2d, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"personality"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x0, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"personality"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x8, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"personality"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x20000, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"personality"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0x20008, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:  []string{"personality"},
			Action: NameActAllow,
			Args:   []Arg{{Index: 0, Value: 0xffffffff, ValueTwo: 0, Op: OpEQ}},
		},
		{
			Names:    []string{"arch_prctl"},
			Action:   NameActAllow,
			Includes: &Filter{Arches: []string{"amd64", "x32"}},
		},
		{
			Names:    []string{"modify_ldt"},
			Action:   NameActAllow,
			Includes: &Filter{Arches: []string{"amd64", "x32", "x86"}},
		},
		{
			Names:    []string{"open_by_handle_at"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_DAC_READ_SEARCH"}},
		},
		{
			Names: []string{
				"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
				"fsopen", "fspick", "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr",
				"mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl",
				"quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
				"umount2", "unshare",
			},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}},
		},
		{
			Names:    []string{"clone"},
			Action:   NameActAllow,
			Args:     []Arg{{Index: 0, Value: 0x7e020000, ValueTwo: 0, Op: OpMaskedEQ}},
			Excludes: &Filter{Arches: []string{"s390", "s390x"}, Caps: []string{"CAP_SYS_ADMIN"}},
		},
		{
			Names:    []string{"clone3"},
			Action:   NameActErrno,
			ErrnoRet: ptr(uint(38)),
			Excludes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}},
		},
		{
			Names:    []string{"reboot"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_BOOT"}},
		},
		{
			Names:    []string{"chroot"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_CHROOT"}},
		},
		{
			Names:    []string{"delete_module", "init_module", "finit_module"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_MODULE"}},
		},
		{
			Names:    []string{"acct"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_PACCT"}},
		},
		{
			Names:    []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_PTRACE"}},
		},
		{
			Names:    []string{"iopl", "ioperm"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_RAWIO"}},
		},
		{
			Names:    []string{"settimeofday", "stime", "clock_settime", "clock_settime64"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_TIME"}},
		},
		{
			Names:    []string{"vhangup"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_TTY_CONFIG"}},
		},
		{
			Names:    []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYS_NICE"}},
		},
		{
			Names:    []string{"syslog"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_SYSLOG"}},
		},
		{
			Names:    []string{"bpf"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_BPF"}},
		},
		{
			Names:    []string{"perf_event_open"},
			Action:   NameActAllow,
			Includes: &Filter{Caps: []string{"CAP_PERFMON"}},
		},
	}
}
