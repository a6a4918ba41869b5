#!/usr/bin/env bash
# Provision the VM test bed (idempotent; a second run downloads nothing):
#   - qemu-system-x86 and busybox-static from apt, only when missing;
#   - the Debian cloud kernel (linux-image-cloud-amd64 -> the versioned
#     linux-image-*-cloud-amd64 package), fetched with `apt-get download` and
#     unpacked with `dpkg-deb -x` into $CONFINE_CACHE/kernel/<version>/.
#     The kernel is never installed on this machine.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
CACHE=${CONFINE_CACHE:-/var/cache/confine}
say() { echo "provision: $*"; }

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
# Only busybox-static will do: the initramfs has no shared libraries.
[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] ||
	need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
	say "apt-get update"
	apt-get update -qq
	say "apt-get install ${need[*]}"
	start=$(date +%s)
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	say "installed ${need[*]} in $(($(date +%s) - start)) s"
else
	say "qemu-system-x86_64 and busybox-static present"
fi

# Resolve the meta package to the real kernel package (e.g. linux-image-6.1.0-28-cloud-amd64).
resolve() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9].*-cloud-amd64/ {print $2; exit}'
}
pkg=$(resolve)
if [ -z "$pkg" ]; then
	say "apt-get update (linux-image-cloud-amd64 unknown to apt-cache)"
	apt-get update -qq
	pkg=$(resolve)
fi
[ -n "$pkg" ] || { echo "provision: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
ver=${pkg#linux-image-}
dest=$CACHE/kernel/$ver
if [ -f "$dest/.complete" ]; then
	say "kernel $ver cached in $dest"
	exit 0
fi
tmp=$(mktemp -d)
chown _apt "$tmp" 2>/dev/null || chmod 777 "$tmp" # apt downloads as the _apt user
trap 'rm -rf "$tmp"' EXIT
say "apt-get download $pkg"
(cd "$tmp" && apt-get download -qq "$pkg")
rm -rf "$dest"
mkdir -p "$dest"
say "dpkg-deb -x $pkg into $dest"
dpkg-deb -x "$tmp"/*.deb "$dest"
touch "$dest/.complete"
say "kernel $ver ready"
