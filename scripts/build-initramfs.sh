#!/usr/bin/env bash
# build-initramfs.sh OUTDIR: the Linux guest's initramfs, OUTDIR/initrd.img.
#
# A gzip'd newc cpio holding Debian's busybox-static (/bin/busybox and the
# applet links below), our /init and /etc/shrc (guest-linux/), our static
# test program /sbin/memstress (guest-linux/memstress.c, built with the
# host's gcc and glibc's libc.a), the directories /dev /proc /sys /tmp /etc
# /root and the node /dev/console (c 5 1).
#
# Reproducible: the same inputs give the same bytes. Every entry is owned by
# 0:0 with an explicit mode, every mtime is SOURCE_DATE_EPOCH (default
# 1704067200, 2024-01-01), the file list is sorted in the C locale, cpio
# renumbers inodes and drops device numbers (--reproducible), gzip stores no
# name or time (-n).
#
# busybox comes from the installed busybox-static package (/bin/busybox, as
# scripts/install-deps.sh installs it) or, failing that, from its .deb
# fetched with apt-get download. /dev/console needs mknod, i.e. root: built
# without root the archive lacks it (a warning) and the kernel starts /init
# with no console until /init mounts devtmpfs and opens it.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/guest-linux
epoch=${SOURCE_DATE_EPOCH:-1704067200}

die() {
	echo "build-initramfs.sh: $*" >&2
	exit 1
}

for tool in cpio gzip gcc; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/install-deps.sh installs cpio and build-essential)"
done
case $epoch in
'' | *[!0-9]*) die "SOURCE_DATE_EPOCH must be a number of seconds, not '$epoch'" ;;
esac
for f in init shrc memstress.c; do
	[ -f "$src/$f" ] || die "$src/$f missing"
done

# Applets the tests and an operator use; each must exist in this busybox.
applets=(sh ash mount umount mkdir mknod cat echo printf uname nproc free uptime
	sleep usleep poweroff reboot halt ls grep egrep dmesg date setsid cttyhack
	hostname ps kill killall pidof head tail wc sed awk cut tr sort uniq expr
	test '[' true false env rm cp mv ln chmod touch readlink basename dirname
	stat sync stty tty clear time timeout watch top hexdump od md5sum
	sha256sum seq dd df du find xargs sysctl id which vi less more yes)

work=$(mktemp -d "${TMPDIR:-/tmp}/tern-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# busybox: the installed package's binary, else the package's .deb.
busybox=""
if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' &&
	[ -x /bin/busybox ]; then
	busybox=/bin/busybox
else
	command -v apt-get >/dev/null 2>&1 || die "busybox-static is not installed and apt-get is missing"
	echo "build-initramfs.sh: busybox-static not installed; downloading its .deb"
	chmod 755 "$work"
	if ! (cd "$work" && apt-get download -qq busybox-static >"$work/apt.log" 2>&1); then
		cat "$work/apt.log" >&2
		die "apt-get download busybox-static failed (run 'apt-get update', or install busybox-static)"
	fi
	mkdir -p "$work/bb"
	dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb" || die "dpkg-deb -x busybox-static failed"
	busybox=$work/bb/bin/busybox
	[ -x "$busybox" ] || die "the busybox-static package holds no bin/busybox"
fi
# A dynamic busybox (package busybox) would need a libc in the archive.
if LC_ALL=C readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	die "$busybox is dynamically linked; install busybox-static"
fi
have=" $("$busybox" --list | tr '\n' ' ') "
for a in "${applets[@]}"; do
	[[ "$have" == *" $a "* ]] || die "this busybox ($busybox) has no applet '$a'"
done

mkdir -p "$root"/{bin,sbin,etc,dev,proc,sys,tmp,root}
cp "$busybox" "$root/bin/busybox"
for a in "${applets[@]}"; do
	ln -s busybox "$root/bin/$a"
done
gcc -static -O2 -Wall -Wextra -Werror "$src/memstress.c" -o "$root/sbin/memstress" ||
	die "building memstress failed (glibc's static libc.a comes with libc6-dev)"
strip "$root/sbin/memstress"
cp "$src/init" "$root/init"
cp "$src/shrc" "$root/etc/shrc"

# Modes are set, not inherited from the umask or the source tree.
find "$root" -type d -exec chmod 755 {} +
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
chmod 755 "$root/init" "$root/bin/busybox" "$root/sbin/memstress"
chmod 644 "$root/etc/shrc"
if mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null; then
	:
else
	echo "build-initramfs.sh: warning: cannot mknod /dev/console (not root); the archive goes without it" >&2
fi
find "$root" -exec touch -h -d "@$epoch" {} +

mkdir -p "$out"
(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio --quiet -o -H newc --reproducible --owner=0:0) | gzip -n -9 >"$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
echo "build-initramfs.sh: $out/initrd.img ($(stat -c %s "$out/initrd.img") bytes, busybox $("$busybox" | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p'))"
