#!/usr/bin/env bash
# Builds lwIP 2.1.3 (Debian's source package, upstream tarball) as a static
# library for the hypervisor: Debian's liblwip is a NO_SYS=0 Unix port built
# for user space, unusable in ring 0. Our configuration is net/include
# (lwipopts.h, arch/cc.h, lwip_hooks.h); the flags are the hypervisor's own.
# Only the core, IPv4 and Ethernet are compiled (no IPv6, PPP, sockets, apps).
# Usage (from the Makefile): build-lwip.sh DEST "HV_CFLAGS"
#   -> DEST/liblwip.a and the headers under DEST/src/include
# The tarball is fetched once into build/src/lwip (apt-get source; the deb-src
# entry comes from scripts/install-deps.sh). Debian's patches touch only the
# sockets API, tcpip.c and PPP, none of which is built: they are not applied.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 DEST HV_CFLAGS" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" # HV_CFLAGS holds include paths relative to the repository
mkdir -p "$1"
DEST=$(cd "$1" && pwd)
SRCPKG=$(dirname "$DEST")/src/lwip
LOG=$DEST/build.log
OBJ=$DEST/obj
start=$SECONDS

find_tarball() { ls "$SRCPKG"/lwip_2.1.3*.orig.tar.* 2>/dev/null | head -n 1 || true; }

tarball=$(find_tarball)
if [ -z "$tarball" ]; then
    mkdir -p "$SRCPKG"
    if ! (cd "$SRCPKG" && apt-get source --download-only lwip) >"$SRCPKG/fetch.log" 2>&1; then
        echo "build-lwip: apt-get source lwip failed (deb-src entry missing? run" \
             "scripts/install-deps.sh); see $SRCPKG/fetch.log" >&2
        exit 1
    fi
    tarball=$(find_tarball)
    [ -n "$tarball" ] || { echo "build-lwip: no lwip 2.1.3 tarball in $SRCPKG" >&2; exit 1; }
fi

# Always from a clean tree: the build takes seconds and can then never mix
# objects of two configurations.
rm -rf "$DEST/src" "$OBJ" "$DEST/liblwip.a"
mkdir -p "$OBJ"
: >"$LOG"
tar -xf "$tarball" -C "$DEST" --strip-components=1 --wildcards '*/src' >>"$LOG" 2>&1

# Our warnings stay on (in the log) but are not fatal in third-party code;
# dependency files would only clutter the build tree.
cflags=()
for f in $2; do
    case "$f" in -Werror|-MMD|-MP) ;; *) cflags+=("$f") ;; esac
done
cflags+=(-Inet/include -I"$DEST/src/include" -Wno-missing-prototypes -Wno-sign-compare)

srcs=("$DEST"/src/core/*.c "$DEST"/src/core/ipv4/*.c "$DEST/src/netif/ethernet.c")
export OBJ
compile() { gcc "${cflags[@]}" -c "$1" -o "$OBJ/$(basename "$1" .c).o"; }
export -f compile
# Arrays do not cross into the xargs children: hand the flags over as words.
export LWIP_CFLAGS="${cflags[*]}"
if ! printf '%s\n' "${srcs[@]}" | xargs -P "$(nproc)" -I{} \
        bash -c 'cflags=($LWIP_CFLAGS); compile "$1"' _ {} >>"$LOG" 2>&1; then
    echo "build-lwip: FAILED; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
fi
ar rcs "$DEST/liblwip.a" "$OBJ"/*.o
[ -f "$DEST/src/include/lwip/opt.h" ] || { echo "build-lwip: headers missing" >&2; exit 1; }
warnings=$(grep -c 'warning:' "$LOG" || true)
echo "build-lwip: liblwip.a (${#srcs[@]} files, $warnings warnings, log $LOG) in $((SECONDS - start)) s"
