#!/usr/bin/env bash
# fetch-linux.sh OUTDIR: Debian 12's stock x86-64 kernel for the Linux guest.
#
# Resolves the kernel package that the metapackage linux-image-amd64 depends
# on (linux-image-6.1.0-NN-amd64), downloads that .deb with apt-get download
# (no installation, works as root or not), unpacks it with dpkg-deb -x and
# leaves OUTDIR/vmlinuz (the bzImage) and OUTDIR/vmlinuz.version (the
# package name and version, one line: "linux-image-6.1.0-NN-amd64 6.1.NNN-1").
# The kernel is never committed to git; the build fetches it.
#
# Idempotent: when OUTDIR/vmlinuz exists and OUTDIR/vmlinuz.version names the
# package and version that apt resolves now, nothing is downloaded. Offline
# (apt knows no candidate) an existing OUTDIR/vmlinuz is kept with a warning.
# apt's package lists must be current: scripts/install-deps.sh runs
# apt-get update.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
meta=linux-image-amd64

die() {
	echo "fetch-linux.sh: $*" >&2
	exit 1
}

for tool in apt-cache apt-get dpkg-deb; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (this script needs Debian's apt and dpkg)"
done

# The first linux-image-* that the metapackage's candidate depends on.
pkg=$(apt-cache depends "$meta" 2>/dev/null |
	sed -n 's/^[[:space:]]*Depends:[[:space:]]*\(linux-image-[0-9][^[:space:]]*\).*/\1/p' | head -n 1)
ver=""
if [ -n "$pkg" ]; then
	ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^[[:space:]]*Candidate:[[:space:]]*//p' | head -n 1)
	[ "$ver" = "(none)" ] && ver=""
fi

if [ -z "$pkg" ] || [ -z "$ver" ]; then
	if [ -f "$out/vmlinuz" ] && [ -s "$out/vmlinuz.version" ]; then
		echo "fetch-linux.sh: warning: apt cannot resolve $meta; keeping $out/vmlinuz ($(cat "$out/vmlinuz.version"))" >&2
		exit 0
	fi
	if [ -z "$pkg" ]; then
		die "apt knows no package $meta or it depends on no linux-image-*; run 'apt-get update' (scripts/install-deps.sh does) on a Debian 12 (bookworm) amd64 system with the main component enabled"
	fi
	die "apt has no installable candidate for $pkg (required by $meta); run 'apt-get update'"
fi

want="$pkg $ver"
if [ -f "$out/vmlinuz" ] && [ -f "$out/vmlinuz.version" ] && [ "$(cat "$out/vmlinuz.version")" = "$want" ]; then
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tern-linux.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetch-linux.sh: downloading $pkg $ver"
# apt-get download writes into the current directory. As root, apt's sandbox
# user _apt may not write to a private temp dir: let it.
chmod 755 "$work"
if ! (cd "$work" && apt-get download -qq "$pkg=$ver" >"$work/apt.log" 2>&1); then
	cat "$work/apt.log" >&2
	die "apt-get download $pkg=$ver failed (network, or stale lists: run 'apt-get update')"
fi
shopt -s nullglob
debs=("$work"/*.deb)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] || die "expected one .deb from apt-get download, found ${#debs[@]}"

mkdir -p "$work/x"
dpkg-deb -x "${debs[0]}" "$work/x" || die "dpkg-deb -x ${debs[0]} failed"
shopt -s nullglob
kernels=("$work"/x/boot/vmlinuz-*)
shopt -u nullglob
[ ${#kernels[@]} -eq 1 ] || die "expected one boot/vmlinuz-* in $pkg, found ${#kernels[@]}"

mkdir -p "$out"
# Write then rename, so an interrupted run never leaves a half kernel that
# a later run would take for a finished one.
cp "${kernels[0]}" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$want" >"$out/vmlinuz.version"
echo "fetch-linux.sh: $out/vmlinuz from $pkg $ver ($(basename "${kernels[0]}"), $(stat -c %s "$out/vmlinuz") bytes)"
