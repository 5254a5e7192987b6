#!/usr/bin/env bash
# Builds newlib 3.3.0 (Debian's newlib-source tarball) as the hypervisor's C
# library: Debian ships no x86_64 newlib, and its glibc-era static libraries use
# the %fs canary, PIC and the red zone, which ring-0 code cannot have.
# Usage: build-newlib.sh DEST   -> DEST/x86_64-elf/{include,lib/libc.a}
# Source and objects live next to DEST (never in the source tree).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
TARBALL=/usr/src/newlib/newlib-3.3.0.tar.xz
mkdir -p "$1"
DEST=$(cd "$1" && pwd)
WORK=$(dirname "$DEST")
SRC=$WORK/newlib-src
OBJ=$WORK/newlib-obj
LOG=$WORK/newlib-build.log

[ -r "$TARBALL" ] || { echo "build-newlib: $TARBALL missing (package newlib-source)" >&2; exit 1; }

rm -rf "$SRC" "$OBJ"
mkdir -p "$SRC" "$OBJ"
echo "build-newlib: building newlib 3.3.0 into $DEST (log: $LOG)"
start=$SECONDS

build() {
    tar -xJf "$TARBALL" -C "$SRC" --strip-components=1
    cd "$OBJ"
    "$SRC/configure" --target=x86_64-elf --prefix="$DEST" \
        CC_FOR_TARGET=gcc AR_FOR_TARGET=ar AS_FOR_TARGET=as LD_FOR_TARGET=ld \
        NM_FOR_TARGET=nm RANLIB_FOR_TARGET=ranlib \
        OBJCOPY_FOR_TARGET=objcopy OBJDUMP_FOR_TARGET=objdump STRIP_FOR_TARGET=strip \
        CFLAGS_FOR_TARGET="-O2 -g -ffreestanding -fno-pic -fno-pie -mno-red-zone -mcmodel=kernel -fno-stack-protector" \
        --disable-multilib --disable-newlib-supplied-syscalls \
        --enable-newlib-nano-malloc --enable-lite-exit --disable-nls \
        --enable-newlib-io-long-long --enable-newlib-io-c99-formats
    make -j2 all-target-newlib
    make install-target-newlib
}

if ! (build) >"$LOG" 2>&1; then
    echo "build-newlib: FAILED; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
fi

for f in "$DEST/x86_64-elf/lib/libc.a" "$DEST/x86_64-elf/include/stdio.h"; do
    [ -f "$f" ] || { echo "build-newlib: $f not produced" >&2; exit 1; }
done
# The objects are rebuilt from the tarball every time; keep only the install.
rm -rf "$SRC" "$OBJ"
echo "build-newlib: done in $((SECONDS - start)) s"
