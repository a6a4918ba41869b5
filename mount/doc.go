// Package mount builds a private root filesystem inside a fresh mount
// namespace: bind mounts (recursive; read-only made truly recursive with
// mount_setattr), tmpfs, proc, sysfs, devpts, mqueue, cgroup2, a minimal
// /dev, masked and read-only paths, propagation, pivot_root with the old
// root detached, and a read-only root.
//
// # Describing a root
//
// A Root and its Mounts are plain values (JSON round-trippable) so package
// namespace can hand them to its re-executed init. Typed constructors
// (Bind, Tmpfs, Proc, Sysfs, Devpts, Mqueue, Cgroup2, Dev) build Mounts;
// ParseTmpfs, ParseVolume and ParseOptions read docker-style flags.
// DefaultRoot gives what `confine run` uses; DefaultMaskedPaths and
// DefaultReadonlyPaths give runc's and moby's lists.
//
// # The Setup contract
//
// Root.Setup expects to run in a fresh mount namespace that nothing else
// uses (for example right after clone(CLONE_NEWNS)), as root or with
// CAP_SYS_ADMIN over that namespace; the working directory does not
// matter. It first makes the whole tree rprivate (or rslave) so nothing
// propagates to the host, binds Root.Path onto itself, applies Mounts in
// order, masks MaskedPaths, makes ReadonlyPaths read-only, then
// pivot_root(".", ".") and detaches the old root, makes the root mount
// read-only if asked, and leaves the working directory at "/". With Path
// "" there is no pivot: the host's tree, seen through the private
// namespace, gets the mounts (no missing target is created on the host's
// filesystem) and Readonly makes it read-only recursively first.
//
// # Security
//
// Every target is resolved inside the root with openat2(RESOLVE_IN_ROOT|
// RESOLVE_NO_MAGICLINKS) (Linux 5.6; without it a component-by-component
// walk with O_NOFOLLOW that expands symlinks relative to the root and
// never uses the kernel's ".."), missing targets are created relative to
// already-resolved parent fds, and mounts are attached through the
// resolved fd with move_mount, so symlinks in a hostile rootfs, or a
// directory swapped for a symlink during Setup, cannot place a mount
// outside the root. proc and sysfs are only mounted on real directories
// (no symlink on the way) and every new filesystem is checked with statfs.
// A mount whose target resolves into procfs or sysfs is refused with a
// *TargetError unless it is a fresh kernel filesystem, a bind from the
// same kind of filesystem or an allow-listed /proc file. With the host's
// tree as the root (Path ""), bind sources are cloned before any mount of
// the Root is made; with a Path, mounts are made strictly in order. The
// minimal /dev gets fresh
// nodes made with mknod; where mknod is refused (a user namespace), and
// for masking files, read-only nosuid noexec binds of the host's nodes,
// each checked to be the expected character device (null is 1:3), so a
// chmod in the sandbox fails with EROFS; the rootfs's own /dev/null is
// never used. Root.Devices (OCI linux.devices) are made the same way, each
// strictly below the root's /dev, its parent resolved from /dev with no
// symlink allowed, and an inode already at the path is used only when it
// is that very node.
//
// # Kernel requirements and errors
//
// Setup needs Linux 5.2 (fsopen, fsmount, open_tree, move_mount); read-only
// binds, ReadonlyPaths and a read-only root need mount_setattr (5.12). On
// older kernels it fails with an error matching
// ErrNotSupported. Invalid input yields a *InvalidError naming the field and
// value before anything is mounted; a failed step yields a *StepError
// {Step, Path, Err} that wraps the errno (errors.Is(err, unix.ENOENT)) or a
// *DeviceError for a host device node that is not what it must be.
//
// # When not to use it
//
// Setup changes the calling process's mount namespace and never undoes a
// failed attempt: do not call it in a process whose mount namespace is
// shared with anything you care about (in particular not in the host's).
// It does not set up user namespaces, id-mapped mounts or overlayfs. Inside
// a user namespace the kernel's locked-mount rules apply (flags inherited
// from the parent namespace cannot be cleared, proc needs a PID namespace
// of its own); Setup is tested as real root only.
//
// Mount table queries (Mounted, MountsUnder) go through
// github.com/moby/sys/mountinfo.
package mount
