#!/usr/bin/env bash
# Installs the Debian packages Tern's build and tests need, so that `make` works
# on a fresh machine. Only missing packages are installed; when all are present
# this does no network access and returns at once. It also adds a deb-src entry
# (derived from the machine's own debian.sources, never a hard-coded mirror) so
# that source packages (lwip, mbedtls) can later be fetched with apt-get source.
set -euo pipefail

PKGS=(build-essential gcc binutils make python3 gnu-efi
      bochs bochsbios vgabios bximage
      grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools dosfstools
      ovmf qemu-system-x86 newlib-source
      clang lld libclang-rt-14-dev libmbedtls-dev
      iproute2 iputils-ping openssl spin acpica-tools
      busybox-static cpio libc6-dev)

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

# One dpkg-query call for all packages keeps the all-present case fast.
# (dpkg-query fails when a package is unknown: not an error here.)
installed=" $( { dpkg-query -W -f='${Package}=${Status};' "${PKGS[@]}" 2>/dev/null || true; } |
              tr ';' '\n' | sed -n 's/=install ok installed$//p' | tr '\n' ' ') "
missing=()
for p in "${PKGS[@]}"; do
    [[ "$installed" == *" $p "* ]] || missing+=("$p")
done

# deb-src: present if any one-line or deb822 source already declares it.
SRC_FILE=/etc/apt/sources.list.d/tern-src.sources
DEB822=/etc/apt/sources.list.d/debian.sources
need_src=0
if ! grep -qsE '^[[:space:]]*(deb-src|Types:.*deb-src)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources; then
    if [ -r "$DEB822" ]; then
        need_src=1
    else
        echo "install-deps: warning: no $DEB822 to derive a deb-src entry from" >&2
    fi
fi

[ ${#missing[@]} -eq 0 ] && [ $need_src -eq 0 ] && exit 0

if [ $need_src -eq 1 ]; then
    echo "install-deps: adding deb-src entry $SRC_FILE (from $DEB822)"
    sed -E 's/^Types:.*/Types: deb-src/' "$DEB822" | "${SUDO[@]}" tee "$SRC_FILE" >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
"${SUDO[@]}" apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    "${SUDO[@]}" apt-get install -y -qq "${missing[@]}"
fi
