#!/bin/sh
# scratch-rootfs.sh - assemble the root file system of the FROM scratch
# image (Dockerfile.scratch) in ROOT, from the static binaries (make static)
# in BINDIR and a static busybox.  Dockerfile.scratch runs it in its build
# stage and copies ROOT into the empty image; tests/integration/test_deploy.py
# runs it too and boots the tree with chroot, so the two cannot drift.
#
#     deploy/scratch-rootfs.sh ROOT [BINDIR [BUSYBOX]]
#
# BINDIR defaults to the source tree (daemonproxy-static, dpctl-static,
# dplog-static), BUSYBOX to /bin/busybox (Debian: busybox-static).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 ROOT [BINDIR [BUSYBOX]]" >&2; exit 2; }
deploy=$(cd "$(dirname "$0")" && pwd)
root=$1
bindir=${2:-$deploy/..}
busybox=${3:-/bin/busybox}

mkdir -p "$root/bin" "$root/usr/local/bin" "$root/etc/daemonproxy" "$root/www" \
    "$root/tmp" "$root/run" "$root/proc"
for b in daemonproxy dpctl dplog; do
    cp "$bindir/$b-static" "$root/usr/local/bin/$b"
done
cp "$busybox" "$root/bin/busybox"
# Each applet a link to /bin/busybox made here: `busybox --install -s` would
# link to the path busybox runs from, /usr/bin/busybox on a merged-/usr
# Debian, which the image does not have.  Links, not /proc/self/exe: the
# applets work without /proc mounted.  (The controller needs sh, printf and
# sleep; the demo service httpd.)
for applet in $("$busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
chmod 1777 "$root/tmp"
echo 'hello from daemonproxy' > "$root/www/index.html"
cp "$deploy/daemonproxy-sh.conf" "$root/etc/daemonproxy/daemonproxy.conf"
cp "$deploy/controller.sh" "$root/etc/daemonproxy/controller.sh"
